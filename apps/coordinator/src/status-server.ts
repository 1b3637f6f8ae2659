import { createServer, type Server } from 'node:http';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@mcm/common';
import type { CoordinatorStatus } from '@mcm/queue';

/** Bytes read from the end of a JSON-lines file to find its last record. */
const TAIL_BYTES = 64 * 1024;

/** The body of the response to GET /status. */
export interface StatusResponse extends CoordinatorStatus {
  runDir: string;
  /** The last line of steps.jsonl: losses, throughput, workers, queue depth of the latest step. */
  lastStepRecord: unknown;
  /** The last line of validation.jsonl. */
  lastValidation: unknown;
}

/**
 * Serves the coordinator's status as JSON on GET /status (and GET /) at
 * `127.0.0.1:port` unless `host` names another interface. Resolves once listening;
 * `close()` stops it and may be called twice.
 */
export async function startStatusServer(options: {
  port: number;
  host?: string;
  runDir: string;
  status: () => CoordinatorStatus;
  logger: Logger;
}): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url !== '/status' && request.url !== '/')) {
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: `not found: ${request.method} ${request.url}; use GET /status` }));
      return;
    }
    statusResponse(options.runDir, options.status())
      .then((body) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      })
      .catch((error: unknown) => {
        options.logger.warn({ error: (error as Error).message }, 'status request failed');
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: (error as Error).message }));
      });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new Error(`the status endpoint cannot listen on port ${options.port} (${error.code ?? error.message}); pass another --status-port`, { cause: error })),
    );
    server.listen(options.port, options.host ?? '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  options.logger.info({ url: `http://${options.host ?? '127.0.0.1'}:${port}/status` }, 'status endpoint listening');

  let closed: Promise<void> | null = null;
  return {
    port,
    close: () => {
      closed ??= new Promise((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      return closed;
    },
  };
}

async function statusResponse(runDir: string, status: CoordinatorStatus): Promise<StatusResponse> {
  return {
    ...status,
    runDir,
    lastStepRecord: await lastJsonLine(join(runDir, 'steps.jsonl')),
    lastValidation: await lastJsonLine(join(runDir, 'validation.jsonl')),
  };
}

/** Returns the last complete JSON line of `path`, or null when the file is missing or empty. */
async function lastJsonLine(path: string): Promise<unknown> {
  let file;
  try {
    file = await open(path, 'r');
  } catch {
    return null;
  }
  try {
    const { size } = await file.stat();
    const length = Math.min(size, TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    await file.read(buffer, 0, length, size - length);
    const lines = buffer.toString('utf8').split('\n').filter((line) => line.trim() !== '');
    // The first line of the window may be cut; any later one is whole.
    const last = lines.at(-1);
    return last === undefined ? null : JSON.parse(last);
  } finally {
    await file.close();
  }
}
