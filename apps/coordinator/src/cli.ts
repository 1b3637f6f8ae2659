#!/usr/bin/env node
import { runMain } from '@mcm/common';
import { Command } from 'commander';
import { registerNightlyCommands } from './nightly-command.ts';
import { registerStartCommand } from './start-command.ts';

const program = new Command('mcm-coordinator')
  .description('Coordinate distributed pre-training of the multi-task customer model over BullMQ workers.')
  .showHelpAfterError();

registerStartCommand(program);
registerNightlyCommands(program);

await runMain('mcm-coordinator', () => program.parseAsync(process.argv));
