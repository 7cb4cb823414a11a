// Spec validation: each class of bad input is refused as invalid-argument with a message naming the
// field, the rule and the value given.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateServiceSpec } from './validate-spec.ts';
import { spec } from './testing.ts';
import type { ServiceSpec } from './types.ts';

/** Asserts the spec is refused as invalid-argument with exactly `message`. */
function refused(overrides: Record<string, unknown>, message: string): void {
  const error = validateServiceSpec({ ...spec(), ...overrides } as ServiceSpec);
  assert.deepEqual(error, { code: 'invalid-argument', message });
}

const update = spec().update;

test('a complete valid spec passes, with every optional feature in use', () => {
  const full = spec({
    command: ['/bin/app'],
    args: ['--port', '8080'],
    env: { MODE: 'prod', _X1: '' },
    placement: { constraints: ['node.labels.zone==east', 'node.role!=manager', 'node.id==n3', 'node.hostname==edge-1'], preferences: [{ spread: 'node.labels.rack' }] },
    limits: { cpuMillis: 200, memoryBytes: 2000 },
    ports: [
      { target: 80, published: 8080, protocol: 'tcp', mode: 'ingress' },
      { target: 80, published: 8080, protocol: 'udp', mode: 'host' },
      { target: 9000, published: 0, protocol: 'tcp', mode: 'ingress' },
    ],
    mounts: [{ volume: 'data', target: '/var/lib/data', readOnly: false }],
    secrets: [{ secret: 'db-pass', target: 'db_pass' }],
    healthCheck: { type: 'http', port: 80, path: '/health', intervalMs: 1000, timeoutMs: 500, retries: 3, startPeriodMs: 0 },
  });
  assert.equal(validateServiceSpec(full), null);
  assert.equal(validateServiceSpec(spec({ mode: { type: 'global' } })), null);
  assert.equal(validateServiceSpec(spec({ healthCheck: { type: 'exec', command: ['true'], intervalMs: 10, timeoutMs: 10, retries: 1, startPeriodMs: 5 } })), null);
});

test('names must be DNS labels', () => {
  refused({ name: 'Web_1' }, 'name must be a DNS label: 1 to 63 lowercase letters, digits or \'-\', starting and ending with a letter or digit; got "Web_1"');
  refused({ name: '' }, 'name must be a DNS label: 1 to 63 lowercase letters, digits or \'-\', starting and ending with a letter or digit; got ""');
  refused({ name: 'a'.repeat(64) }, `name must be a DNS label: 1 to 63 lowercase letters, digits or '-', starting and ending with a letter or digit; got "${'a'.repeat(64)}"`);
});

test('the image must be a non-empty reference without whitespace', () => {
  refused({ image: '' }, 'image must not be empty');
  refused({ image: 'nginx latest' }, 'image must not contain whitespace, got "nginx latest"');
});

test('replicas must be an integer in range and the mode known', () => {
  refused({ mode: { type: 'replicated', replicas: -1 } }, 'replicas must be an integer from 0 to 10000, got -1');
  refused({ mode: { type: 'replicated', replicas: 1.5 } }, 'replicas must be an integer from 0 to 10000, got 1.5');
  refused({ mode: { type: 'replicated', replicas: '3' } }, 'replicas must be an integer from 0 to 10000, got "3"');
  refused({ mode: { type: 'daemon' } }, 'mode.type must be replicated or global, got "daemon"');
});

test('constraints must be KEY==VALUE or KEY!=VALUE over known node attributes', () => {
  // The messages are the constraint language's own (core/scheduler/constraints.ts), as the scheduler shows them.
  const forms = 'expected one of node.id==ID, node.hostname==NAME, node.role==manager|worker|hybrid, node.labels.KEY==VALUE (each also with !=)';
  const refusedConstraint = (constraint: string, message: string) =>
    refused({ placement: { constraints: [constraint], preferences: [] } }, message);
  refusedConstraint('node.labels.zone=east', `invalid placement constraint "node.labels.zone=east": it has no operator ('==' or '!='); ${forms}`);
  refusedConstraint('node.color==red', `invalid placement constraint "node.color==red": unknown attribute "node.color"; ${forms}`);
  refusedConstraint('node.role==boss', `invalid placement constraint "node.role==boss": node.role is one of manager, worker or hybrid, not "boss"; ${forms}`);
  refusedConstraint('node.id== ', `invalid placement constraint "node.id== ": the value after '==' is missing; ${forms}`);
  refusedConstraint('node.hostname==edge 1', `invalid placement constraint "node.hostname==edge 1": the value "edge 1" may not contain spaces, '=' or '!' (one operator per constraint); ${forms}`);
  refused({ placement: { constraints: [], preferences: [{ spread: 'zone' }] } },
    'invalid spread preference "zone": unknown attribute "zone"; expected node.labels.KEY, node.id, node.hostname or node.role');
  refused({ placement: { constraints: [], preferences: [{ spread: ' node.role' }] } },
    'invalid spread preference " node.role": it has spaces around the attribute; expected node.labels.KEY, node.id, node.hostname or node.role');
});

test('resources are non-negative integers and limits are 0 or at least the reservation', () => {
  refused({ reservations: { cpuMillis: -1, memoryBytes: 0 } }, 'reservations.cpuMillis must be an integer from 0 to 9007199254740991, got -1');
  refused({ reservations: { cpuMillis: 1, memoryBytes: 0.5 } }, 'reservations.memoryBytes must be an integer from 0 to 9007199254740991, got 0.5');
  refused({ limits: { cpuMillis: 50, memoryBytes: 0 } }, 'limits.cpuMillis (50) must be 0 (no limit) or at least reservations.cpuMillis (100)');
});

test('ports are 1..65535, published in host mode, and a published port/protocol appears once', () => {
  const port = { target: 80, published: 8080, protocol: 'tcp', mode: 'ingress' };
  refused({ ports: [{ ...port, target: 0 }] }, 'ports[0].target must be an integer from 1 to 65535, got 0');
  refused({ ports: [{ ...port, published: 70000 }] }, 'ports[0].published must be an integer from 0 to 65535, got 70000');
  refused({ ports: [{ ...port, protocol: 'sctp' }] }, 'ports[0].protocol must be one of tcp, udp; got "sctp"');
  refused({ ports: [{ ...port, mode: 'host', published: 0 }] }, 'ports[0].published must be from 1 to 65535 in host mode (the port is reserved on the node), got 0');
  refused({ ports: [port, { ...port, target: 81 }] }, 'published port 8080/tcp appears twice: each published port/protocol may be used once');
});

test('mounts and secret references name valid objects and unique targets', () => {
  const mount = { volume: 'data', target: '/data', readOnly: true };
  refused({ mounts: [{ ...mount, target: 'data' }] }, 'mounts[0].target must be an absolute path without \'..\', got "data"');
  refused({ mounts: [{ ...mount, target: '/a/../etc' }] }, 'mounts[0].target must be an absolute path without \'..\', got "/a/../etc"');
  refused({ mounts: [mount, { ...mount, volume: 'other' }] }, 'mounts: target "/data" appears twice; each target must be unique');
  refused({ mode: { type: 'global' }, mounts: [mount] }, 'a global service cannot mount volume "data": a local volume lives on one node');
  refused({ secrets: [{ secret: 'db pass', target: 'x' }] }, 'secrets[0].secret must be 1 to 64 letters, digits, \'.\', \'_\' or \'-\', starting with a letter or digit; got "db pass"');
  refused({ env: { '1X': 'a' } }, 'env name "1X" is invalid: expected letters, digits and \'_\', not starting with a digit');
});

test('health checks have sane timing and type-specific fields', () => {
  const http = { type: 'http', port: 80, path: '/h', intervalMs: 1000, timeoutMs: 500, retries: 3, startPeriodMs: 0 };
  refused({ healthCheck: { ...http, intervalMs: 0 } }, 'healthCheck.intervalMs must be an integer from 1 to 604800000, got 0');
  refused({ healthCheck: { ...http, timeoutMs: 2000 } }, 'healthCheck.timeoutMs (2000) must not exceed healthCheck.intervalMs (1000)');
  refused({ healthCheck: { ...http, retries: 0 } }, 'healthCheck.retries must be an integer from 1 to 100, got 0');
  refused({ healthCheck: { ...http, path: 'health' } }, 'healthCheck.path must start with \'/\', got "health"');
  refused({ healthCheck: { ...http, type: 'exec', command: [] } }, 'healthCheck.command must not be empty');
  refused({ healthCheck: { ...http, type: 'grpc' } }, 'healthCheck.type must be one of http, tcp, exec; got "grpc"');
});

test('restart and update configs are in range', () => {
  refused({ restartPolicy: { condition: 'always', delayMs: 0, maxAttempts: 0, windowMs: 0 } }, 'restartPolicy.condition must be one of none, on-failure, any; got "always"');
  refused({ restartPolicy: { condition: 'any', delayMs: -5, maxAttempts: 0, windowMs: 0 } }, 'restartPolicy.delayMs must be an integer from 0 to 604800000, got -5');
  refused({ update: { ...update, maxFailureRatio: 1.5 } }, 'update.maxFailureRatio must be a number from 0 to 1, got 1.5');
  refused({ update: { ...update, parallelism: -1 } }, 'update.parallelism must be an integer from 0 to 10000, got -1');
  refused({ update: { ...update, order: 'random' } }, 'update.order must be one of stop-first, start-first; got "random"');
  refused({ rollback: { ...update, failureAction: 'rollback' } }, 'rollback.failureAction must be one of pause, continue; got "rollback"');
  refused({ stopGracePeriodMs: 3_600_001 }, 'stopGracePeriodMs must be an integer from 0 to 3600000, got 3600001');
});

test('a spec that is not an object, or misses a section, is refused with what is expected', () => {
  assert.deepEqual(validateServiceSpec(null as unknown as ServiceSpec), { code: 'invalid-argument', message: 'spec must be an object, got null' });
  refused({ placement: undefined }, 'placement must be an object { constraints, preferences }, got nothing');
  refused({ restartPolicy: 'any' }, 'restartPolicy must be an object, got "any"');
});
