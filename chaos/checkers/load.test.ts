import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadProblems, type LoadRequestRecord } from './load.ts';

const record = (name: string, outcome: LoadRequestRecord['outcome'], extra: Partial<LoadRequestRecord> = {}): LoadRequestRecord => ({
  name, sentAtUs: 1_500_000, to: 'm1', outcome, code: '', error: '', retryAfterUs: 0, ...extra,
});
const shedError = 'manager m1 is overloaded: client requests exceed 200/s (burst 50); retry after 5.0 ms';
const shed = (name: string) => record(name, 'shed', { code: 'overloaded', error: shedError, retryAfterUs: 5_000 });

test('answers that agree with the store pass: acked present, shed and refused absent, unknown either way', () => {
  const store = new Set(['load-1', 'load-4']);
  const records = [
    record('load-1', 'ok'),
    shed('load-2'),
    record('load-3', 'refused', { code: 'not-leader', error: 'manager m2 does not lead' }),
    record('load-4', 'unknown', { code: 'leadership-lost' }),
    record('load-5', 'pending'),
  ];
  assert.deepEqual(loadProblems(records, (n) => store.has(n)), []);
});

test('an acknowledged request missing from the store is a lost write', () => {
  const problems = loadProblems([record('load-1', 'ok')], () => false);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /load-1 sent to m1 at 1.5 s was acknowledged but its secret is not in the store/);
});

test('a shed request whose write was applied anyway is reported', () => {
  const problems = loadProblems([shed('load-2')], (n) => n === 'load-2');
  assert.match(problems[0]!, /shed as overloaded but its secret is in the store/);
});

test('a shed request must say it was overloaded and when to retry, with a retry hint', () => {
  assert.match(loadProblems([record('x', 'shed', { code: 'overloaded', error: 'busy', retryAfterUs: 5 })], () => false)[0]!, /unclear error: "busy"/);
  assert.match(loadProblems([record('x', 'shed', { code: 'overloaded', error: shedError, retryAfterUs: 0 })], () => false)[0]!, /without a retry hint/);
});

test('a refused request that changed the store is reported, and the report is bounded', () => {
  assert.match(loadProblems([record('r', 'refused', { code: 'not-leader', error: 'no' })], () => true)[0]!, /refused \(not-leader: no\) but its secret is in the store/);
  const many = Array.from({ length: 100 }, (_, i) => record(`load-${i}`, 'ok'));
  assert.equal(loadProblems(many, () => false, 5).length, 5);
});
