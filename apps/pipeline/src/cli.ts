#!/usr/bin/env node
import { Command } from 'commander';
import { registerIngestCommand } from './ingest-command.ts';
import { registerSynthCommand } from './synth-command.ts';

const program = new Command('mcm-pipeline')
  .description('Turn raw interaction logs into the per-customer feature sequences mcm trains on.')
  .showHelpAfterError();

registerIngestCommand(program);
registerSynthCommand(program);

await program.parseAsync(process.argv);
