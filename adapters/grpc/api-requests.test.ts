// Parsing of client API requests at the edge: only known fields, each of its type, the first problem
// named with its method and field; service specs completed with defaults and checked by the store's
// own rules; secrets' values never echoed. And the status each refused proposal maps to.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { nodeId } from '../../core/raft/index.ts';
import { proposalFailure } from './api-errors.ts';
import { defaultServiceSpec, parseEventsRequest, parseRequest } from './api-requests.ts';
import { unaryMethods } from './api-service.ts';
import type { UnaryMethod } from './api-types.ts';

const limits = { maxRequestBytes: 4096, maxListItems: 100 };
const parse = <M extends UnaryMethod>(method: M, body: unknown) => parseRequest(method, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), limits);
const problem = (method: UnaryMethod, body: unknown): string => {
  const parsed = parse(method, body);
  assert.ok(!parsed.ok, `${method} ${JSON.stringify(body)} should be refused`);
  assert.equal(parsed.failure.code, grpc.status.INVALID_ARGUMENT);
  return parsed.failure.message;
};

test('every method refuses a body that is not a JSON object, or too large, or with an unknown field', () => {
  for (const method of unaryMethods) {
    assert.match(problem(method, '{'), new RegExp(`^${method}: the request is not valid JSON \\(.+\\); expected a JSON object$`));
    assert.equal(problem(method, 'null'), `${method}: the request must be a JSON object, got null`);
    assert.match(problem(method, { zzz: 1 }), new RegExp(`^${method}: unknown field "zzz"; expected some of `));
    assert.equal(problem(method, 'x'.repeat(5000)), `${method}: the request is 5000 bytes; at most 4096 are accepted`);
  }
  assert.deepEqual(parse('ClusterInfo', ''), { ok: true, value: { leaderOnly: undefined } }, 'an empty body is an empty request');
});

test('fields are checked for presence and type, naming what is expected', () => {
  assert.equal(problem('NodeInspect', {}), `NodeInspect: field "id" is required (the node's id or name)`);
  assert.equal(problem('NodeInspect', { id: 7 }), 'NodeInspect: field "id" must be a non-empty string of at most 253 characters, got 7');
  assert.equal(problem('ServiceUpdate', { id: 'web', spec: {} }), 'ServiceUpdate: field "version" is required (the version read, for optimistic concurrency)');
  assert.equal(problem('ServiceUpdate', { id: 'web', version: 0, spec: {} }), 'ServiceUpdate: field "version" must be an integer from 1 to 9007199254740991, got 0');
  assert.equal(problem('ServiceUpdate', { id: 'web', version: 1, spec: [] }), 'ServiceUpdate: field "spec" must be an object, got []');
  assert.equal(problem('ServiceList', { leaderOnly: 'yes' }), 'ServiceList: field "leaderOnly" must be true or false, got "yes"');
  assert.equal(problem('ServiceList', { limit: 101 }), 'ServiceList: field "limit" must be an integer from 1 to 100, got 101');
  assert.equal(problem('NodeUpdate', { id: 'n', version: 1, labels: { a: 1 } }), 'NodeUpdate: field "labels" must be an object of string values, got {"a":1}');
  assert.equal(problem('NodeList', { role: 'boss' }), 'NodeList: field "role" must be one of manager, worker, hybrid; got "boss"');
  assert.equal(problem('VolumeCreate', { name: 'v', node: 5 }), 'VolumeCreate: field "node" must be a non-empty string of at most 253 characters, got 5');
  const scale = parse('ServiceScale', { id: 'web', replicas: 3 });
  assert.deepEqual(scale, { ok: true, value: { id: 'web', replicas: 3, version: undefined } });
});

test('a new service spec is completed with defaults and judged by the store\'s rules', () => {
  const parsed = parse('ServiceCreate', { spec: { name: 'web', image: 'nginx', env: { A: '1' } } });
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.value.spec, { ...defaultServiceSpec, name: 'web', image: 'nginx', env: { A: '1' } });
  assert.equal(problem('ServiceCreate', { spec: { name: 'web' } }), 'ServiceCreate: field "spec.image" is required');
  assert.match(problem('ServiceCreate', { spec: { name: 'web', image: 'nginx', ports: [{ target: 0 }] } }), /^ServiceCreate: spec: ports\[0\]\.target must be an integer from 1 to 65535/);
  assert.match(problem('ServiceCreate', { spec: { name: 'web', image: 'a b' } }), /^ServiceCreate: spec: image must not contain whitespace/);
});

test('a secret\'s value is taken as text or base64, bounded, and never echoed in an error', () => {
  const text = parse('SecretCreate', { name: 'pw', value: 'hunter2' });
  assert.ok(text.ok);
  assert.equal(text.value.value.toString('utf8'), 'hunter2');
  const bytes = parse('SecretCreate', { name: 'key', valueBase64: Buffer.from([0, 255]).toString('base64') });
  assert.ok(bytes.ok);
  assert.deepEqual([...bytes.value.value], [0, 255]);
  const bad = problem('SecretCreate', { name: 'pw', valueBase64: 'hunter2!' });
  assert.equal(bad, 'SecretCreate: field "valueBase64" must be standard base64 (with padding)');
  assert.equal(problem('SecretCreate', { name: 'pw' }), 'SecretCreate: give exactly one of "value" (text) and "valueBase64" (bytes as base64)');
  assert.equal(problem('SecretCreate', { name: 'pw', value: '' }), "SecretCreate: the secret's value must be 1 to 512000 bytes, got 0");
  assert.doesNotMatch(problem('SecretCreate', { name: 'pw', value: 42 }), /42/);
});

test('an events request names known command types, or none', () => {
  const body = (value: unknown) => Buffer.from(JSON.stringify(value));
  assert.deepEqual(parseEventsRequest(body({}), limits), { ok: true, value: {} });
  assert.deepEqual(parseEventsRequest(body({ types: ['service-create'] }), limits), { ok: true, value: { types: ['service-create'] } });
  const refused = parseEventsRequest(body({ types: [] }), limits);
  assert.ok(!refused.ok && /^Events: field "types" must be a non-empty list of command types \(node-register, /.test(refused.failure.message));
});

test('refused proposals map to gRPC status codes, with the outcome stated where it is not certain', () => {
  const leader = { id: nodeId('m1'), apiAddress: '10.0.0.1:4243' };
  const map = (code: string, error = 'why', retryAfterUs?: number) =>
    proposalFailure({ ok: false, code, error, leader: null, ...(retryAfterUs === undefined ? {} : { retryAfterUs }) }, 'm2', leader);
  assert.equal(map('invalid-argument').code, grpc.status.INVALID_ARGUMENT);
  assert.equal(map('not-found').code, grpc.status.NOT_FOUND);
  assert.equal(map('already-exists').code, grpc.status.ALREADY_EXISTS);
  assert.equal(map('failed-precondition').code, grpc.status.FAILED_PRECONDITION);
  assert.deepEqual(map('overloaded', 'too many; retry after 2.5 ms', 2500), { code: grpc.status.RESOURCE_EXHAUSTED, message: 'too many; retry after 2.5 ms', retryAfterMs: 3 });
  assert.deepEqual(map('overloaded', 'overloaded: 4096 proposals pending; retry later'), {
    code: grpc.status.RESOURCE_EXHAUSTED, message: 'overloaded: 4096 proposals pending; retry later (retry after 100 ms)', retryAfterMs: 100,
  });
  const lost = map('leadership-lost', 'leadership lost: m2 no longer leads term 4');
  assert.equal(lost.code, grpc.status.UNAVAILABLE);
  assert.equal(lost.outcome, 'unknown');
  assert.match(lost.message, /^outcome unknown; the request may have been applied; check before retrying \(manager m2 lost its leadership/);
  assert.deepEqual(lost.leader, leader);
  assert.equal(map('overwritten').outcome, 'not-applied');
  assert.equal(map('transfer-in-progress').outcome, 'not-applied');
  assert.equal(map('mystery').code, grpc.status.UNKNOWN);
});
