import type { FastifyInstance } from 'fastify';
import { RequestError } from './routes.ts';

/** The content type that every POST route accepts. */
const JSON_CONTENT_TYPE = 'application/json';

/**
 * Words in the body text that trigger the scan for prototype keys. Code that merges an
 * object with a `__proto__` key into another (a recursive merge, for example) sets that
 * object's prototype, so Fastify's default parser rejects such keys too, with the
 * message it gives for broken JSON.
 */
const PROTOTYPE_KEYS = ['__proto__', 'constructor'] as const;

/**
 * Replaces Fastify's JSON body parser with one whose errors name the problem: the
 * syntax error and its position, or the rejected `__proto__` key. Fastify's own parser
 * responds to both with "Body is not valid JSON".
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeContentTypeParser(JSON_CONTENT_TYPE);
  app.addContentTypeParser(JSON_CONTENT_TYPE, { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

/** Parses a request body as JSON; raises a RequestError (400) that names the problem. */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new RequestError(400, `the body is empty; send a JSON object with the header Content-Type: ${JSON_CONTENT_TYPE}`);

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RequestError(400, `the body is not valid JSON: ${(error as Error).message}`);
  }

  // Scanning is needed only when the text mentions a rejected key.
  if (PROTOTYPE_KEYS.some((key) => text.includes(key))) assertNoPrototypeKeys(value);
  return value;
}

/** Returns the message of a 415 response: the content type received and the one to send. */
export function unsupportedMediaTypeMessage(contentType: string | undefined): string {
  const received = contentType === undefined || contentType === '' ? 'no Content-Type header' : `Content-Type ${contentType}`;
  return `unsupported media type (${received}); send the body as JSON with the header Content-Type: ${JSON_CONTENT_TYPE}`;
}

/** Raises when an object anywhere in `value` has a `__proto__` key, or a `constructor` key whose value has a `prototype` key. */
function assertNoPrototypeKeys(value: unknown): void {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const node = pending.pop();
    if (typeof node !== 'object' || node === null) continue;

    if (Object.hasOwn(node, '__proto__')) {
      throw new RequestError(400, 'the body contains a "__proto__" key, which is rejected because it can change object prototypes; remove it');
    }
    const constructorValue = Object.hasOwn(node, 'constructor') ? (node as { constructor: unknown }).constructor : undefined;
    if (typeof constructorValue === 'object' && constructorValue !== null && Object.hasOwn(constructorValue, 'prototype')) {
      throw new RequestError(400, 'the body contains a "constructor.prototype" key, which is rejected because it can change object prototypes; remove it');
    }
    pending.push(...Object.values(node));
  }
}
