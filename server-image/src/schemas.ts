// JSON schemas for the routes, after the Open Inference Protocol's REST definitions. Request
// schemas check the field types; protocol.ts checks what depends on the model.
import { DATATYPES } from './tensor/datatypes.ts';

const error = {
  type: 'object',
  properties: { error: { type: 'string' } },
  required: ['error'],
} as const;

const errors = { '4xx': error, '5xx': error } as const;

const tensorMetadata = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    datatype: { type: 'string' },
    shape: { type: 'array', items: { type: 'integer' } },
  },
  required: ['name', 'datatype', 'shape'],
} as const;

const parameters = { type: 'object', additionalProperties: true } as const;

export const health = {
  response: {
    200: { type: 'object', additionalProperties: { type: 'boolean' } },
    503: { type: 'object', additionalProperties: { type: 'boolean' } },
  },
} as const;

export const serverMetadata = {
  response: {
    200: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        version: { type: 'string' },
        extensions: { type: 'array', items: { type: 'string' } },
      },
      required: ['name', 'version', 'extensions'],
    },
  },
} as const;

const modelParams = {
  type: 'object',
  properties: { name: { type: 'string' }, version: { type: 'string' } },
  required: ['name'],
} as const;

export const modelMetadata = {
  params: modelParams,
  response: {
    200: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        versions: { type: 'array', items: { type: 'string' } },
        platform: { type: 'string' },
        inputs: { type: 'array', items: tensorMetadata },
        outputs: { type: 'array', items: tensorMetadata },
        parameters,
      },
      required: ['name', 'platform', 'inputs', 'outputs'],
    },
    ...errors,
  },
} as const;

const readyBody = {
  type: 'object',
  properties: { name: { type: 'string' }, ready: { type: 'boolean' } },
  required: ['ready'],
} as const;

export const modelReady = {
  params: modelParams,
  response: { 200: readyBody, 503: readyBody, 404: error },
} as const;

export const infer = {
  params: modelParams,
  headers: {
    type: 'object',
    properties: {
      'inference-header-content-length': { type: 'string' },
      'x-request-timeout-ms': { type: 'string' },
    },
  },
  body: {
    type: 'object',
    properties: {
      id: { type: 'string' },
      parameters,
      inputs: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          properties: {
            name: { type: 'string', minLength: 1 },
            shape: { type: 'array', items: { type: 'integer', minimum: 0 }, maxItems: 16 },
            datatype: { type: 'string', enum: Object.keys(DATATYPES) },
            parameters,
            data: {},
          },
          required: ['name', 'shape', 'datatype'],
        },
      },
      outputs: {
        type: 'array',
        items: {
          type: 'object',
          properties: { name: { type: 'string', minLength: 1 }, parameters },
          required: ['name'],
        },
      },
    },
    required: ['inputs'],
  },
  response: errors,
} as const;

// Triton's extensions: their answers are built whole by triton/*.ts, in Triton's own shapes.
const tritonObject = { type: 'object', additionalProperties: true } as const;

export const modelConfig = {
  params: modelParams,
  response: { 200: tritonObject, ...errors },
} as const;

export const modelStats = {
  response: {
    200: {
      type: 'object',
      properties: { model_stats: { type: 'array', items: tritonObject } },
      required: ['model_stats'],
    },
    ...errors,
  },
} as const;

export const repositoryIndex = {
  body: {
    anyOf: [{ type: 'null' }, { type: 'object', properties: { ready: { type: 'boolean' } } }],
  },
  response: {
    200: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          version: { type: 'string' },
          state: { type: 'string' },
          reason: { type: 'string' },
        },
        required: ['name', 'state'],
      },
    },
    ...errors,
  },
} as const;
