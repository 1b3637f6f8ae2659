import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** Cookie that carries the token after the page was opened once as /?token=<token>, so that bull-board's own requests carry it too. */
export const TOKEN_COOKIE = 'mcm_dashboard_token';

/** Methods that never change state; every other method needs the token. */
export const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Access level of a request to the dashboard. */
export type DashboardAccess = 'read-only' | 'token-required' | 'authorized';

/** Returns whether `given` equals `expected`, in time that does not depend on where they differ. */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(expected), digest(given));
}

/** Returns the token of a request: `Authorization: Bearer <token>` or the dashboard cookie. */
export function requestToken(headers: IncomingHttpHeaders): string | undefined {
  const authorization = headers.authorization;
  if (authorization?.startsWith('Bearer ')) return authorization.slice('Bearer '.length).trim();
  for (const part of (headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === TOKEN_COOKIE) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

/** Returns the access of a request to a dashboard that has `token` (undefined: none was set). */
export function requestAccess(token: string | undefined, headers: IncomingHttpHeaders): DashboardAccess {
  if (token === undefined) return 'read-only';
  return tokenMatches(token, requestToken(headers)) ? 'authorized' : 'token-required';
}

/** Returns the error message of a rejected request that would change state. */
export function rejectionMessage(access: DashboardAccess, method: string, url: string): string {
  if (access === 'read-only') {
    return `${method} ${url} rejected: the dashboard is read-only; restart the run with --dashboard-token <token> (or MCM_DASHBOARD_TOKEN) to allow changes`;
  }
  return `${method} ${url} rejected: missing or wrong dashboard token; open the dashboard once as /?token=<token>, or send "Authorization: Bearer <token>"`;
}
