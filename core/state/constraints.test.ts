// Placement constraints as the store sees them: evaluated on a node (each attribute, missing labels),
// and in agreement with the scheduler's language for any text and any node.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as language from '../scheduler/constraints.ts';
import { checkLabels } from './checks.ts';
import { firstUnsatisfied, isConstraint, nodeSatisfies, parseConstraint } from './constraints.ts';
import { nid, spec } from './testing.ts';
import type { ClusterNode } from './types.ts';
import { validateServiceSpec } from './validate-spec.ts';

const node: ClusterNode = {
  id: nid('n3'), name: 'edge-1', version: 1, role: 'worker', availability: 'active', status: 'ready', labels: { zone: 'east' },
  resources: { cpuMillis: 1, memoryBytes: 1 }, reserved: { cpuMillis: 0, memoryBytes: 0 }, address: 'a', lastHeartbeatUs: 0, createdAtUs: 0, updatedAtUs: 0,
};

const holds = (text: string): boolean => {
  const parsed = parseConstraint(text);
  assert.ok(isConstraint(parsed), text);
  return nodeSatisfies(node, parsed);
};

test('constraints compare node id, hostname, role and labels', () => {
  assert.equal(holds('node.id==n3'), true);
  assert.equal(holds('node.hostname==edge-1'), true);
  assert.equal(holds('node.role!=manager'), true);
  assert.equal(holds('node.labels.zone==east'), true);
  assert.equal(holds('node.labels.zone!=east'), false);
  assert.equal(holds(' node.labels.zone == east '), true, 'spaces around the parts are ignored');
});

test('a missing label equals nothing, so only != holds on it', () => {
  assert.equal(holds('node.labels.rack==r1'), false);
  assert.equal(holds('node.labels.rack!=r1'), true);
});

test('firstUnsatisfied names the first failing constraint', () => {
  assert.equal(firstUnsatisfied(node, ['node.role==worker', 'node.labels.zone==west', 'node.id==x']), 'node.labels.zone==west');
  assert.equal(firstUnsatisfied(node, []), null);
});

// Pieces of constraint texts, valid and not: attributes, operators and values near every rule's edge.
const spaces = fc.oneof({ arbitrary: fc.constant(''), weight: 4 }, fc.constantFrom(' ', '  ', '\t', '\n'));
const labelKeys = ['zone', 'rack', 'gpu', 'com.example/disk', 'a_b', 'constructor', 'toString'];
const attributes = fc.constantFrom(
  'node.id', 'node.hostname', 'node.role', ...labelKeys.map((key) => `node.labels.${key}`),
  'node.labels._x', 'node.labels.x-', 'node.labels.', 'node.labels.a b', 'node.ID', 'node.zone', 'zone', '',
  `node.labels.${'k'.repeat(128)}`, `node.labels.${'k'.repeat(129)}`,
);
const operators = fc.oneof({ arbitrary: fc.constantFrom('==', '!='), weight: 4 }, fc.constantFrom('=', '!==', '===', '<>', ''));
const values = fc.constantFrom(
  'n1', 'n3', 'edge-1', 'Edge-1', 'manager', 'worker', 'hybrid', 'Manager', 'boss', 'east', 'East', 'true', 'r1',
  'a b', '=x', '!x', '', 'e'.repeat(230), 'e'.repeat(240),
);
const structuredText = fc.tuple(spaces, attributes, spaces, operators, spaces, values, spaces).map((parts) => parts.join(''));
const constraintText = fc.oneof(structuredText, structuredText, fc.string({ maxLength: 40 }), fc.string({ maxLength: 300, unit: fc.constantFrom('n', 'o', 'd', 'e', '.', '=', '!', ' ') }));
const spreadText = fc.tuple(spaces, attributes, spaces).map((parts) => parts.join(''));

const clusterNode = fc.record({
  id: fc.constantFrom('n1', 'n3', 'node-7'),
  name: fc.constantFrom('edge-1', 'Edge-1', 'db'),
  role: fc.constantFrom('manager', 'worker', 'hybrid'),
  labels: fc.dictionary(fc.constantFrom(...labelKeys), fc.constantFrom('east', 'East', 'true', 'r1', 'a b', ''), { maxKeys: 4 }),
}).map(({ id, name, role, labels }): ClusterNode => ({ ...node, id: nid(id), name, role, labels }));

test('the store and the scheduler agree on every constraint text and every node', () => {
  fc.assert(fc.property(fc.array(constraintText, { minLength: 1, maxLength: 3 }), clusterNode, (texts, candidate) => {
    assert.equal(checkLabels(candidate.labels, 'labels'), null, 'the node is one the store would accept');
    for (const text of texts) {
      const scheduler = language.parseConstraint(text);
      const store = parseConstraint(text);
      const verdict = validateServiceSpec(spec({ placement: { constraints: [text], preferences: [] } }));
      assert.equal(verdict === null, scheduler.type === 'constraint', `verdicts on ${JSON.stringify(text)}`);
      if (scheduler.type === 'error') {
        assert.deepEqual(store, { code: 'invalid-argument', message: scheduler.message });
        // The store checks the field's type and length first, naming the field; past that, its message is the language's.
        if (text.length >= 1 && text.length <= language.constraintLimits.textChars) assert.deepEqual(verdict, store);
        continue;
      }
      assert.deepEqual(store, scheduler);
      assert.ok(isConstraint(store));
      assert.equal(nodeSatisfies(candidate, store), language.matches(scheduler, candidate), `${text} on ${JSON.stringify(candidate.labels)}`);
    }
    const parsed = language.parseConstraints(texts);
    const schedulerPlaces = !('message' in parsed) && language.matchesAll(parsed, candidate);
    assert.equal(firstUnsatisfied(candidate, texts) === null, schedulerPlaces, 'the store re-check accepts exactly what the scheduler places');
  }), { numRuns: 2000 });
});

test('the store and the scheduler agree on every spread preference', () => {
  fc.assert(fc.property(spreadText, (text) => {
    const scheduler = language.parseSpread(text);
    const verdict = validateServiceSpec(spec({ placement: { constraints: [], preferences: [{ spread: text }] } }));
    assert.deepEqual(verdict, scheduler.type === 'error' ? { code: 'invalid-argument', message: scheduler.message } : null, JSON.stringify(text));
  }), { numRuns: 500 });
});
