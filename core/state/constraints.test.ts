// Placement constraints evaluated on a node: each attribute, and missing labels.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstUnsatisfied, isConstraint, nodeSatisfies, parseConstraint } from './constraints.ts';
import { nid } from './testing.ts';
import type { ClusterNode } from './types.ts';

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
