import { basename, resolve } from 'node:path';
import { createLogger } from '@mcm/common';
import { DEFAULT_DASHBOARD_HOST, type DashboardCommandOptions } from './dashboard-options.ts';
import { startDashboard, type RunDashboard } from './dashboard-server.ts';

/** The options of a training command that the dashboard reads: the run directory and this command line's budgets. */
export interface TrainingCommandDashboardOptions extends DashboardCommandOptions {
  out: string;
  budgetMinutes: number;
  maxSteps?: number;
}

/**
 * Starts the dashboard of the run in --out when --dashboard is given, else returns null.
 * `queueBoard` mounts bull-board, for a coordinator that attaches its queue later.
 */
export async function startCommandDashboard(options: TrainingCommandDashboardOptions, context: { loggerName: string; queueBoard: boolean }): Promise<RunDashboard | null> {
  if (options.dashboard === undefined) return null;
  const runDir = resolve(options.out);
  return startDashboard({
    runDir,
    port: options.dashboard,
    host: options.dashboardHost ?? DEFAULT_DASHBOARD_HOST,
    token: options.dashboardToken,
    logger: createLogger(context.loggerName, { run: basename(runDir) }),
    queueBoard: context.queueBoard,
    commandBudget: { budgetMinutes: options.budgetMinutes, ...(options.maxSteps === undefined ? {} : { maxSteps: options.maxSteps }) },
  });
}
