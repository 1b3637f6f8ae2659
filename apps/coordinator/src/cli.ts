#!/usr/bin/env node
import { Command } from 'commander';
import { registerNightlyCommands } from './nightly-command.ts';
import { registerStartCommand } from './start-command.ts';

const program = new Command('mcm-coordinator')
  .description('Coordinate distributed pre-training of the multi-task customer model over BullMQ workers.')
  .showHelpAfterError();

registerStartCommand(program);
registerNightlyCommands(program);

await program.parseAsync(process.argv);
