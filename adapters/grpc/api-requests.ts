// Strict parsing of client API requests at the edge, before anything is read or proposed: the body
// must be a JSON object with only the fields its method knows, each of the expected type. The first
// problem becomes an INVALID_ARGUMENT naming the method, the field, what is expected and what came.
// What only the store can judge (a name's syntax, a spec's rules, a version against the current one)
// is left to it, except a new service's spec, which is completed with defaults and checked here by
// the store's own validateServiceSpec so that a bad spec never travels to the leader.

import { stateCommandTypes, stateLimits, validateServiceSpec, type ServiceSpec, type StateCommandType } from '../../core/state/index.ts';
import { invalidRequest, type ApiFailure } from './api-errors.ts';
import type { ApiRequest, EventsRequest, UnaryMethod } from './api-types.ts';
import { maxSecretValueBytes } from './api-secrets.ts';

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: ApiFailure };

/** Bound on the text of an id or name in a request (the longest name, a hostname, is 253). */
const refChars = 253;

/** The defaults of ServiceCreate, as `docker service create` has them. */
export const defaultServiceSpec: Omit<ServiceSpec, 'name' | 'image'> = {
  command: [],
  args: [],
  env: {},
  mode: { type: 'replicated', replicas: 1 },
  placement: { constraints: [], preferences: [] },
  reservations: { cpuMillis: 0, memoryBytes: 0 },
  limits: { cpuMillis: 0, memoryBytes: 0 },
  ports: [],
  mounts: [],
  secrets: [],
  healthCheck: null,
  restartPolicy: { condition: 'any', delayMs: 5000, maxAttempts: 0, windowMs: 0 },
  update: { parallelism: 1, delayMs: 0, order: 'stop-first', monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause' },
  rollback: { parallelism: 1, delayMs: 0, order: 'stop-first', monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause' },
  stopGracePeriodMs: 10_000,
};

export const serviceSpecFields: readonly (keyof ServiceSpec)[] = ['name', 'image', ...(Object.keys(defaultServiceSpec) as (keyof ServiceSpec)[])];

/** A value as it appears in messages. */
export function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Reads the fields of one request body, keeping the first problem found. */
class Reader {
  problem: string | null = null;

  constructor(private readonly method: string, private readonly body: Record<string, unknown>) {}

  fail(message: string): void {
    this.problem ??= `${this.method}: ${message}`;
  }

  present(key: string): boolean {
    return this.body[key] !== undefined;
  }

  raw(key: string): unknown {
    return this.body[key];
  }

  string(key: string, required: string | null, maxChars = refChars): string | undefined {
    const value = this.body[key];
    if (value === undefined) {
      if (required !== null) this.fail(`field "${key}" is required (${required})`);
      return undefined;
    }
    if (typeof value !== 'string' || value.length === 0 || value.length > maxChars) {
      this.fail(`field "${key}" must be a non-empty string of at most ${maxChars} characters, got ${shown(value)}`);
      return undefined;
    }
    return value;
  }

  integer(key: string, min: number, max: number, required: string | null): number | undefined {
    const value = this.body[key];
    if (value === undefined) {
      if (required !== null) this.fail(`field "${key}" is required (${required})`);
      return undefined;
    }
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      this.fail(`field "${key}" must be an integer from ${min} to ${max}, got ${shown(value)}`);
      return undefined;
    }
    return value;
  }

  boolean(key: string): boolean | undefined {
    const value = this.body[key];
    if (value === undefined || typeof value === 'boolean') return value;
    this.fail(`field "${key}" must be true or false, got ${shown(value)}`);
    return undefined;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    const value = this.body[key];
    if (value === undefined) return undefined;
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    this.fail(`field "${key}" must be one of ${allowed.join(', ')}; got ${shown(value)}`);
    return undefined;
  }

  stringRecord(key: string): Record<string, string> | undefined {
    const value = this.body[key];
    if (value === undefined) return undefined;
    if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
      this.fail(`field "${key}" must be an object of string values, got ${shown(value)}`);
      return undefined;
    }
    return value as Record<string, string>;
  }

  object(key: string, required: string | null, allowedKeys: readonly string[]): Record<string, unknown> | undefined {
    const value = this.body[key];
    if (value === undefined) {
      if (required !== null) this.fail(`field "${key}" is required (${required})`);
      return undefined;
    }
    if (!isObject(value)) {
      this.fail(`field "${key}" must be an object, got ${shown(value)}`);
      return undefined;
    }
    const unknown = Object.keys(value).filter((k) => !allowedKeys.includes(k)).sort();
    if (unknown.length > 0) this.fail(`field "${key}" has unknown field ${shown(unknown[0])}; expected some of ${allowedKeys.join(', ')}`);
    return value;
  }
}

interface FieldRules {
  readonly fields: readonly string[];
  readonly read: (r: Reader) => unknown;
}

const byIdOrName = (what: string) => (r: Reader) => ({ id: r.string('id', `the ${what}'s id or name`) });
const readOptions = (r: Reader) => ({ leaderOnly: r.boolean('leaderOnly') });
const listOptions = (maxItems: number) => (r: Reader) => ({ ...readOptions(r), limit: r.integer('limit', 1, maxItems, null) });
const nodeRoles = ['manager', 'worker', 'hybrid'] as const;
const availabilities = ['active', 'pause', 'drain'] as const;

function rules(maxListItems: number): Record<UnaryMethod, FieldRules> {
  const list = listOptions(maxListItems);
  const inspect = (what: string): FieldRules => ({ fields: ['id', 'leaderOnly'], read: (r) => ({ ...readOptions(r), ...byIdOrName(what)(r) }) });
  const remove = (what: string): FieldRules => ({ fields: ['id'], read: byIdOrName(what) });
  return {
    ClusterInfo: { fields: ['leaderOnly'], read: readOptions },
    NodeList: {
      fields: ['leaderOnly', 'limit', 'role', 'availability', 'status'],
      read: (r) => ({ ...list(r), role: r.oneOf('role', nodeRoles), availability: r.oneOf('availability', availabilities), status: r.oneOf('status', ['ready', 'down', 'unknown']) }),
    },
    NodeInspect: inspect('node'),
    NodeUpdate: { fields: ['id', 'version', 'availability', 'labels'], read: readNodeUpdate },
    NodeRemove: { fields: ['id', 'force'], read: (r) => ({ ...byIdOrName('node')(r), force: r.boolean('force') }) },
    ServiceCreate: { fields: ['spec'], read: readServiceCreate },
    ServiceList: { fields: ['leaderOnly', 'limit'], read: list },
    ServiceInspect: inspect('service'),
    ServiceUpdate: {
      fields: ['id', 'version', 'spec', 'force'],
      read: (r) => ({
        ...byIdOrName('service')(r),
        version: r.integer('version', 1, Number.MAX_SAFE_INTEGER, 'the version read, for optimistic concurrency'),
        spec: r.object('spec', 'the fields of the spec to change', serviceSpecFields),
        force: r.boolean('force'),
      }),
    },
    ServiceRollback: { fields: ['id', 'version'], read: (r) => ({ ...byIdOrName('service')(r), version: r.integer('version', 1, Number.MAX_SAFE_INTEGER, null) }) },
    ServiceScale: {
      fields: ['id', 'replicas', 'version'],
      read: (r) => ({
        ...byIdOrName('service')(r),
        replicas: r.integer('replicas', 0, stateLimits.replicas, 'the number of replicas wanted'),
        version: r.integer('version', 1, Number.MAX_SAFE_INTEGER, null),
      }),
    },
    ServiceRemove: remove('service'),
    TaskList: {
      fields: ['leaderOnly', 'limit', 'service', 'node', 'desiredState'],
      read: (r) => ({ ...list(r), service: r.string('service', null), node: r.string('node', null), desiredState: r.oneOf('desiredState', ['running', 'shutdown']) }),
    },
    TaskInspect: inspect('task'),
    SecretCreate: { fields: ['name', 'value', 'valueBase64'], read: readSecretCreate },
    SecretList: { fields: ['leaderOnly', 'limit'], read: list },
    SecretInspect: inspect('secret'),
    SecretRemove: remove('secret'),
    VolumeCreate: { fields: ['name', 'node'], read: readVolumeCreate },
    VolumeList: { fields: ['leaderOnly', 'limit'], read: list },
    VolumeInspect: inspect('volume'),
    VolumeRemove: remove('volume'),
    ManagerJoin: {
      fields: ['id', 'address', 'proof'],
      read: (r) => {
        const id = r.string('id', 'the joining manager\'s node id', 63);
        if (id !== undefined && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(id)) r.fail('field "id" must be a node id: lower-case letters, digits and dashes, starting with a letter or digit');
        const address = r.string('address', 'the joining manager\'s HOST:PORT', 255);
        if (address !== undefined && !/^[^\s:]+:\d{1,5}$/.test(address)) r.fail('field "address" must be HOST:PORT');
        return { id, address, proof: r.string('proof', 'the proof of holding the cluster key', 128) };
      },
    },
    ManagerRemove: { fields: ['id'], read: (r) => ({ id: r.string('id', 'the id of the manager to remove', 63) }) },
  };
}

function readNodeUpdate(r: Reader): unknown {
  const request = {
    ...byIdOrName('node')(r),
    version: r.integer('version', 1, Number.MAX_SAFE_INTEGER, 'the version read, for optimistic concurrency'),
    availability: r.oneOf('availability', availabilities),
    labels: r.stringRecord('labels'),
  };
  if (!r.present('availability') && !r.present('labels')) r.fail('give availability or labels (or both) to change');
  return request;
}

function readServiceCreate(r: Reader): unknown {
  const spec = r.object('spec', 'the service spec: at least name and image', serviceSpecFields);
  if (spec === undefined || r.problem !== null) return undefined;
  for (const key of ['name', 'image']) if (spec[key] === undefined) r.fail(`field "spec.${key}" is required`);
  const complete = { ...defaultServiceSpec, ...spec };
  const invalid = validateServiceSpec(complete);
  if (invalid !== null) r.fail(`spec: ${invalid.message}`);
  return { spec: complete };
}

function readSecretCreate(r: Reader): unknown {
  const name = r.string('name', "the secret's name", stateLimits.objectNameChars);
  const value = r.raw('value');
  const base64 = r.raw('valueBase64');
  if ((value === undefined) === (base64 === undefined)) {
    r.fail('give exactly one of "value" (text) and "valueBase64" (bytes as base64)');
    return undefined;
  }
  let bytes: Buffer | null = null;
  if (value !== undefined) {
    if (typeof value !== 'string') r.fail(`field "value" must be a string, got ${typeof value}`);
    else bytes = Buffer.from(value, 'utf8');
  } else if (typeof base64 !== 'string' || Buffer.from(base64, 'base64').toString('base64') !== base64) {
    // Never echo the value: it is a secret.
    r.fail('field "valueBase64" must be standard base64 (with padding)');
  } else {
    bytes = Buffer.from(base64, 'base64');
  }
  if (bytes !== null && (bytes.length === 0 || bytes.length > maxSecretValueBytes)) {
    r.fail(`the secret's value must be 1 to ${maxSecretValueBytes} bytes, got ${bytes.length}`);
  }
  return { name, value: bytes };
}

function readVolumeCreate(r: Reader): unknown {
  const name = r.string('name', "the volume's name", stateLimits.objectNameChars);
  const node = r.raw('node') === null ? null : r.string('node', null);
  return { name, node: node ?? null };
}

/** The request as the server handles it: SecretCreate carries the value as bytes. */
export type ParsedRequest<M extends UnaryMethod> = M extends 'SecretCreate'
  ? { readonly name: string; readonly value: Buffer }
  : ApiRequest<M>;

function parseBody(method: string, body: Buffer, maxBytes: number): Parsed<Record<string, unknown>> {
  if (body.length > maxBytes) return { ok: false, failure: invalidRequest(`${method}: the request is ${body.length} bytes; at most ${maxBytes} are accepted`) };
  let value: unknown;
  try {
    value = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch (error) {
    return { ok: false, failure: invalidRequest(`${method}: the request is not valid JSON (${(error as Error).message}); expected a JSON object`) };
  }
  if (!isObject(value)) return { ok: false, failure: invalidRequest(`${method}: the request must be a JSON object, got ${shown(value)}`) };
  return { ok: true, value };
}

export interface RequestLimits {
  readonly maxRequestBytes: number;
  readonly maxListItems: number;
}

/** Parses the body of a unary call of `method`. */
export function parseRequest<M extends UnaryMethod>(method: M, body: Buffer, limits: RequestLimits): Parsed<ParsedRequest<M>> {
  const parsed = parseBody(method, body, limits.maxRequestBytes);
  if (!parsed.ok) return parsed;
  const rule = rules(limits.maxListItems)[method];
  const unknown = Object.keys(parsed.value).filter((key) => !rule.fields.includes(key)).sort();
  if (unknown.length > 0) {
    const expected = rule.fields.length === 0 ? 'no fields' : `some of ${rule.fields.join(', ')}`;
    return { ok: false, failure: invalidRequest(`${method}: unknown field ${shown(unknown[0])}; expected ${expected}`) };
  }
  const reader = new Reader(method, parsed.value);
  const value = rule.read(reader);
  if (reader.problem !== null) return { ok: false, failure: invalidRequest(reader.problem) };
  return { ok: true, value: value as ParsedRequest<M> };
}

export function parseEventsRequest(body: Buffer, limits: RequestLimits): Parsed<EventsRequest> {
  const parsed = parseBody('Events', body, limits.maxRequestBytes);
  if (!parsed.ok) return parsed;
  const unknown = Object.keys(parsed.value).filter((key) => key !== 'types');
  if (unknown.length > 0) return { ok: false, failure: invalidRequest(`Events: unknown field ${shown(unknown[0])}; expected some of types`) };
  const types = parsed.value.types;
  if (types === undefined) return { ok: true, value: {} };
  if (!Array.isArray(types) || types.length === 0 || types.some((t) => !(stateCommandTypes as readonly unknown[]).includes(t))) {
    return { ok: false, failure: invalidRequest(`Events: field "types" must be a non-empty list of command types (${stateCommandTypes.join(', ')}); got ${shown(types)}`) };
  }
  return { ok: true, value: { types: types as StateCommandType[] } };
}
