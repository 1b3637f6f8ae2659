#!/usr/bin/env node
import { Command } from 'commander';
import { registerEvaluateCommand } from './evaluate-command.ts';
import { registerTrainCommand } from './train-command.ts';

const program = new Command('mcm-trainer')
  .description('Pre-train and evaluate the multi-task customer model on one machine.')
  .showHelpAfterError();

registerTrainCommand(program);
registerEvaluateCommand(program);

await program.parseAsync(process.argv);
