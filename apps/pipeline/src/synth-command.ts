import type { Command } from 'commander';

export function registerSynthCommand(program: Command): void {
  program.command('synth').description('not built yet').action(() => {
    throw new Error('synth is not built yet');
  });
}
