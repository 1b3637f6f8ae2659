import { InvalidArgumentError, Option, type Command } from 'commander';

/** Environment variable that sets the dashboard token when --dashboard-token is absent, so the token stays out of the process list. */
export const DASHBOARD_TOKEN_ENV = 'MCM_DASHBOARD_TOKEN';

/** Loopback only: showing a run to a network is a deliberate choice (--dashboard-host 0.0.0.0). */
export const DEFAULT_DASHBOARD_HOST = '127.0.0.1';

/** The dashboard options of `trainer:train` and `coordinator:start`, as commander parses them. */
export interface DashboardCommandOptions {
  /** Port of the dashboard; undefined serves none. */
  dashboard?: number;
  dashboardHost?: string;
  /** Token that allows requests that change state; undefined keeps the dashboard read-only. */
  dashboardToken?: string;
}

/** Adds --dashboard, --dashboard-host and --dashboard-token to `command`. */
export function addDashboardOptions(command: Command): Command {
  return command
    .addOption(new Option('--dashboard <port>', 'serve the live training dashboard on this port (0 picks a free one); see docs/dashboard.md').argParser(portNumber))
    .option('--dashboard-host <host>', 'interface the dashboard listens on', DEFAULT_DASHBOARD_HOST)
    .addOption(
      new Option('--dashboard-token <token>', 'token that allows changes from the dashboard, such as pausing or retrying queue jobs; without it the dashboard is read-only').env(
        DASHBOARD_TOKEN_ENV,
      ),
    );
}

function portNumber(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new InvalidArgumentError(`expected a port number in [0, 65535], got "${value}"`);
  return parsed;
}
