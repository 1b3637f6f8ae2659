#!/usr/bin/env node
import { runMain } from '@mcm/common';
import { Command } from 'commander';
import { registerAblationCommand } from './ablation-command.ts';
import { registerEvaluateCommand } from './evaluate-command.ts';
import { registerFinetuneCommands } from './finetune-command.ts';
import { registerReportCommand } from './report-command.ts';
import { registerTrainCommand } from './train-command.ts';
import { registerWorkerCommand } from './worker-command.ts';

const program = new Command('mcm-trainer')
  .description('Pre-train and evaluate the multi-task customer model on one machine.')
  .showHelpAfterError();

registerTrainCommand(program);
registerEvaluateCommand(program);
registerAblationCommand(program);
registerReportCommand(program);
registerFinetuneCommands(program);
registerWorkerCommand(program);

await runMain('mcm-trainer', () => program.parseAsync(process.argv));
