#!/usr/bin/env node
import { runMain } from '@mcm/common';
import { Command } from 'commander';
import { registerIngestCommand } from './ingest-command.ts';
import { registerSynthCommand } from './synth-command.ts';

const program = new Command('mcm-pipeline')
  .description('Turn raw interaction logs into the per-customer feature sequences mcm trains on.')
  .showHelpAfterError();

registerIngestCommand(program);
registerSynthCommand(program);

await runMain('mcm-pipeline', () => program.parseAsync(process.argv));
