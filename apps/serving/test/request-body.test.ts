import { describe, expect, it } from 'vitest';
import { parseJsonBody, unsupportedMediaTypeMessage } from '../src/request-body.ts';
import { RequestError } from '../src/routes.ts';

describe('parseJsonBody', () => {
  it('parses a JSON object', () => {
    expect(parseJsonBody('{"task": "brand", "k": 5, "constructor": "a name"}')).toEqual({ task: 'brand', k: 5, constructor: 'a name' });
  });

  it('names the syntax error', () => {
    expect(() => parseJsonBody('{"task": "brand",')).toThrow(/^the body is not valid JSON: /);
  });

  it('rejects an empty body', () => {
    expect(() => parseJsonBody('')).toThrow('the body is empty; send a JSON object with the header Content-Type: application/json');
  });

  it('rejects a nested __proto__ key', () => {
    const parse = () => parseJsonBody('{"events": [{"item_id": "i1", "__proto__": {"polluted": true}}]}');

    expect(parse).toThrow('the body contains a "__proto__" key, which is rejected because it can change object prototypes; remove it');
    expect(parse).toThrow(RequestError);
  });

  it('rejects constructor.prototype', () => {
    expect(() => parseJsonBody('{"constructor": {"prototype": {"polluted": true}}}')).toThrow('"constructor.prototype" key');
  });

  it('returns status 400 in its errors', () => {
    try {
      parseJsonBody('{"__proto__": {}}');
      expect.unreachable();
    } catch (error) {
      expect((error as RequestError).statusCode).toBe(400);
    }
  });
});

describe('unsupportedMediaTypeMessage', () => {
  it('names a missing header', () => {
    expect(unsupportedMediaTypeMessage(undefined)).toBe(
      'unsupported media type (no Content-Type header); send the body as JSON with the header Content-Type: application/json',
    );
  });

  it('names the type received', () => {
    expect(unsupportedMediaTypeMessage('application/x-www-form-urlencoded')).toContain('(Content-Type application/x-www-form-urlencoded)');
  });
});
