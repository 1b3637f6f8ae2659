#!/usr/bin/env node
import { Command } from 'commander';
import { registerIngestCommand } from './ingest-command.ts';
import { registerSynthCommand } from './synth-command.ts';

const program = new Command('mcm-pipeline')
  .description('Turn raw interaction logs into the per-customer feature sequences mcm trains on.')
  .showHelpAfterError();

registerIngestCommand(program);
registerSynthCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // A failed command prints its message, not a stack trace; MCM_LOG_LEVEL=debug shows the stack.
  const message = error instanceof Error ? error.message : String(error);
  console.error(`mcm-pipeline: ${message}`);
  if (process.env.MCM_LOG_LEVEL === 'debug' && error instanceof Error) console.error(error.stack);
  process.exitCode = 1;
}
