import type { EventField } from './raw-event-mapper.ts';

/** Limits of the request schemas. */
export interface RequestLimits {
  /** Largest k of a top-K request. */
  maxK: number;
  /** Most events of a raw-event request. */
  maxEvents: number;
  /** Longest customer id. */
  maxCustomerIdLength: number;
}

/** A JSON schema, as Fastify and @fastify/swagger take it. */
export type JsonSchema = Record<string, unknown>;

/**
 * The schema of one raw event: the dataset config's item, event type and event columns,
 * and nothing else. Without a dataset config (`fields` null) any object passes the
 * schema and the handler rejects raw events with a message that names the fix.
 */
export function rawEventSchema(fields: readonly EventField[] | null): JsonSchema {
  if (fields === null) {
    return { type: 'object', description: 'Raw events need the server to be started with --config; send customerId instead.' };
  }

  const properties: Record<string, JsonSchema> = {};
  for (const field of fields) {
    properties[field.name] = fieldSchema(field);
  }
  return {
    type: 'object',
    description: 'One event in the column names of the dataset config. Catalog features are looked up by the item, as the ingest does.',
    properties,
    required: fields.filter((field) => field.required).map((field) => field.name),
    additionalProperties: false,
  };
}

function fieldSchema(field: EventField): JsonSchema {
  const text: JsonSchema = { type: ['string', 'number'] };
  switch (field.role) {
    case 'item':
      return { ...text, description: 'The item; catalog features come from its catalog row.' };
    case 'eventType':
      return field.allowed === null
        ? { ...text, description: 'The event type.' }
        : { type: 'string', enum: [...field.allowed], description: 'The event type.' };
    case 'time':
      return { ...text, description: 'Accepted and ignored: the events are read in list order, oldest first.' };
    case 'eventColumn':
      return field.shape === 'list'
        ? { type: ['array', 'null'], items: text, description: 'A list of values of a multi-valued feature.' }
        : { type: ['string', 'number', 'null'], description: 'An event column a feature reads; missing or null is the missing value.' };
  }
}

/** The part of a request that names whose history to use: a customer id or raw events. */
function historyProperties(fields: readonly EventField[] | null, limits: RequestLimits): Record<string, JsonSchema> {
  return {
    customerId: {
      type: 'string',
      minLength: 1,
      maxLength: limits.maxCustomerIdLength,
      description: 'A customer of the ingested data; the history is their latest ingested events. Give this or events.',
    },
    events: {
      type: 'array',
      minItems: 1,
      maxItems: limits.maxEvents,
      items: rawEventSchema(fields),
      description: 'Recent events of a customer, oldest first. Give this or customerId.',
    },
  };
}

export function topKRequestSchema(tasks: readonly string[], fields: readonly EventField[] | null, limits: RequestLimits): JsonSchema {
  return {
    type: 'object',
    properties: {
      task: { type: 'string', enum: [...tasks], description: 'The task whose candidates are ranked, e.g. the next category.' },
      k: { type: 'integer', minimum: 1, maximum: limits.maxK, default: 10, description: 'Number of candidates to return.' },
      excludeSeen: {
        type: 'boolean',
        default: false,
        description: "Leave out the values of the task's feature that occur in the history (what the customer already has).",
      },
      ...historyProperties(fields, limits),
    },
    required: ['task'],
    additionalProperties: false,
  };
}

export function embeddingRequestSchema(fields: readonly EventField[] | null, limits: RequestLimits): JsonSchema {
  return {
    type: 'object',
    properties: historyProperties(fields, limits),
    additionalProperties: false,
  };
}

const checkpointSchema: JsonSchema = {
  type: 'object',
  properties: {
    kind: { type: 'string', enum: ['best', 'last'] },
    step: { type: 'integer' },
    createdAt: { type: 'string' },
    loadedAt: { type: 'string' },
  },
  required: ['kind', 'step', 'createdAt', 'loadedAt'],
};

const historySchema: JsonSchema = {
  type: 'object',
  properties: {
    source: { type: 'string', enum: ['customer', 'events'] },
    customerId: { type: 'string' },
    /** Events the model read: the most recent maxLength. */
    events: { type: 'integer' },
  },
  required: ['source', 'events'],
};

export const topKResponseSchema: JsonSchema = {
  type: 'object',
  properties: {
    task: { type: 'string' },
    k: { type: 'integer' },
    checkpoint: checkpointSchema,
    history: historySchema,
    candidates: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          rank: { type: 'integer', description: '1 for the best candidate.' },
          value: { type: 'string', description: 'The vocabulary value, as in the ingest output.' },
          id: { type: 'integer', description: 'The vocabulary id.' },
          score: { type: 'number', description: 'The model score (a logit); higher ranks first.' },
        },
        required: ['rank', 'value', 'id', 'score'],
      },
    },
  },
  required: ['task', 'k', 'checkpoint', 'history', 'candidates'],
};

export const embeddingResponseSchema: JsonSchema = {
  type: 'object',
  properties: {
    checkpoint: checkpointSchema,
    history: historySchema,
    dimension: { type: 'integer' },
    embedding: { type: 'array', items: { type: 'number' }, description: 'Mean of the last encoder block over the history.' },
  },
  required: ['checkpoint', 'history', 'dimension', 'embedding'],
};

export const errorResponseSchema: JsonSchema = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string' },
    message: { type: 'string' },
    requestId: { type: 'string' },
  },
  required: ['statusCode', 'error', 'message'],
};
