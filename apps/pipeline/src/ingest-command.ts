import type { Command } from 'commander';

export function registerIngestCommand(program: Command): void {
  program.command('ingest').description('not built yet').action(() => {
    throw new Error('ingest is not built yet');
  });
}
