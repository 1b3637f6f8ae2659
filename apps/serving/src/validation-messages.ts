/** The fields of an Ajv error that the message needs (Ajv runs with `verbose`, so `data` and `parentSchema` are set). */
export interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
  data?: unknown;
  parentSchema?: { properties?: Record<string, unknown> };
}

/**
 * Describes a request validation error in one sentence that names the field, the rule,
 * the value received and, where there is one, the list of valid values.
 */
export function describeSchemaError(error: SchemaError, dataVar: string): string {
  const field = fieldPath(dataVar, error.instancePath);
  const params = error.params;
  switch (error.keyword) {
    case 'additionalProperties': {
      const allowed = Object.keys(error.parentSchema?.properties ?? {});
      return `${field} has unknown field "${String(params.additionalProperty)}"; allowed fields: ${allowed.join(', ') || '(none)'}`;
    }
    case 'required':
      return `${field} is missing the required field "${String(params.missingProperty)}"`;
    case 'enum':
      return `${field} must be one of ${(params.allowedValues as unknown[]).map((value) => JSON.stringify(value)).join(', ')}; got ${describe(error.data)}`;
    case 'maxItems':
      return `${field} has ${Array.isArray(error.data) ? error.data.length : '?'} items, more than the limit of ${String(params.limit)}`;
    case 'minItems':
      return `${field} must have at least ${String(params.limit)} item(s)`;
    case 'maximum':
    case 'minimum':
      return `${field} must be ${error.keyword === 'maximum' ? 'at most' : 'at least'} ${String(params.limit)}; got ${describe(error.data)}`;
    case 'type':
      return `${field} must be of type ${String(params.type).replaceAll(',', ' or ')}; got ${describe(error.data)}`;
    case 'maxLength':
      return `${field} must be at most ${String(params.limit)} characters long`;
    case 'minLength':
      return `${field} must be at least ${String(params.limit)} character(s) long`;
    default:
      return `${field} ${error.message ?? 'is invalid'}`;
  }
}

/** Turns Ajv's JSON pointer into `body.events[0].item_id`. */
function fieldPath(dataVar: string, instancePath: string): string {
  let path = dataVar;
  for (const segment of instancePath.split('/').slice(1)) {
    const key = segment.replaceAll('~1', '/').replaceAll('~0', '~');
    path += /^\d+$/.test(key) ? `[${key}]` : `.${key}`;
  }
  return path;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
  return `${typeof value} ${String(value)}`;
}
