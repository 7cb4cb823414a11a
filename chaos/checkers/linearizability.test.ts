// Proves the linearizability checker against histories whose answer is known: histories simulated
// on a real register (linearizable by construction), the same with an anomaly planted after them,
// hand-written corner cases of info ops, and a brute-force checker on small random histories.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { HistoryEvent, HistoryOp } from '../history.ts';
import { checkLinearizability, MalformedHistoryError } from './linearizability.ts';

// ---------------------------------------------------------------------------------------------
// Histories linearizable by construction: each op gets a linearization point inside its interval
// (info ops: any time after invoke, or never), the register is run in that order, and the results
// are recorded as a client would see them.

interface GeneratorOptions {
  readonly operations: number;
  readonly keys: number;
  readonly processes: number;
  readonly infoRate: number;
  readonly valueDomain?: number; // values drawn from a small set; unique values when absent
}

interface SimulatedOp {
  readonly id: number;
  readonly process: number;
  readonly op: HistoryOp;
  readonly key: string;
  readonly input: HistoryEvent['value'];
  readonly invoke: number;
  readonly complete: number;
  readonly linearizeAt: number | undefined; // undefined: never takes effect
  outcome: 'ok' | 'fail' | 'info';
  read: string | null;
}

function random(seed: number): (below: number) => number {
  let a = seed >>> 0;
  return (below) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below);
  };
}

const OP_MIX: readonly HistoryOp[] = ['get', 'get', 'get', 'get', 'put', 'put', 'put', 'cas', 'cas', 'delete'];

function generateHistory(seed: number, options: GeneratorOptions): HistoryEvent[] {
  const draw = random(seed);
  const freeAt = new Array<number>(options.processes).fill(0);
  const processOf = freeAt.map((_, client) => client);
  let nextProcess = options.processes;
  const lastWritten = new Map<string, string>();
  const ops: SimulatedOp[] = [];
  for (let id = 0; id < options.operations; id++) {
    const client = freeAt.indexOf(Math.min(...freeAt));
    const key = `k${draw(options.keys)}`;
    const op = OP_MIX[draw(OP_MIX.length)];
    const value = options.valueDomain === undefined ? `v${id}` : `v${draw(options.valueDomain)}`;
    const expected = draw(10) < 7 ? lastWritten.get(key) ?? null : draw(2) === 0 ? null : value;
    const input = op === 'put' ? value : op === 'cas' ? ([expected, value] as const) : null;
    if (op === 'put' || op === 'cas') lastWritten.set(key, value);
    const invoke = freeAt[client] + draw(20);
    const info = draw(1000) < options.infoRate * 1000;
    const linearizeAt = info ? (draw(2) === 0 ? undefined : invoke + 1 + draw(600)) : invoke + 1 + draw(50);
    const complete = info ? invoke + 100 + draw(200) : (linearizeAt as number) + 1 + draw(50);
    const outcome = info ? 'info' : 'ok';
    ops.push({ id, process: processOf[client], op, key, input, invoke, complete, linearizeAt, outcome, read: null });
    freeAt[client] = complete;
    if (info) processOf[client] = nextProcess++; // as in Jepsen, a client that gave up is a new process
  }
  runRegister(ops);
  return toEvents(ops);
}

function runRegister(ops: SimulatedOp[]): void {
  const register = new Map<string, string | null>();
  const placed = ops.filter((o) => o.linearizeAt !== undefined);
  placed.sort((a, b) => (a.linearizeAt as number) - (b.linearizeAt as number) || a.id - b.id);
  for (const o of placed) {
    const current = register.get(o.key) ?? null;
    if (o.op === 'get') o.read = current;
    if (o.op === 'put') register.set(o.key, o.input as string);
    if (o.op === 'delete') register.set(o.key, null);
    if (o.op !== 'cas') continue;
    const [expected, replacement] = o.input as readonly [string | null, string];
    if (current === expected) register.set(o.key, replacement);
    else if (o.outcome === 'ok') o.outcome = 'fail';
  }
}

function toEvents(ops: readonly SimulatedOp[]): HistoryEvent[] {
  const timed: { time: number; order: number; event: HistoryEvent }[] = [];
  for (const o of ops) {
    const base = { process: o.process, op: o.op, key: o.key, value: o.input };
    timed.push({ time: o.invoke, order: 1, event: { ...base, type: 'invoke', time: o.invoke } });
    const value = o.op === 'get' ? (o.outcome === 'ok' ? o.read : null) : o.input;
    timed.push({ time: o.complete, order: 0, event: { ...base, type: o.outcome, value, time: o.complete } });
  }
  // At equal times completions go first, so a client's next invoke follows its last completion.
  timed.sort((a, b) => a.time - b.time || a.order - b.order);
  return timed.map((t) => t.event);
}

// ---------------------------------------------------------------------------------------------
// Small hand-written histories: [process, type, op, key, value] in order, one time unit apart.

type Row = readonly [number, HistoryEvent['type'], HistoryOp, string, HistoryEvent['value']];

function history(rows: readonly Row[], startTime = 0): HistoryEvent[] {
  return rows.map(([process, type, op, key, value], index) => ({ process, type, op, key, value, time: startTime + index }));
}

function sequential(process: number, key: string, op: HistoryOp, value: HistoryEvent['value'], read?: string | null): Row[] {
  const input = op === 'get' ? null : value;
  return [[process, 'invoke', op, key, input], [process, 'ok', op, key, op === 'get' ? read ?? null : value]];
}

const ANOMALIES: Record<string, (key: string) => Row[]> = {
  'stale read': (key) => [
    ...sequential(9001, key, 'put', 'x0'), ...sequential(9001, key, 'put', 'x1'),
    ...sequential(9002, key, 'get', null, 'x0'), ...sequential(9002, key, 'get', null, 'x1'),
  ],
  'lost write': (key) => [
    ...sequential(9001, key, 'put', 'x0'), ...sequential(9001, key, 'put', 'x1'),
    ...sequential(9002, key, 'get', null, 'x0'), ...sequential(9002, key, 'get', null, 'x0'),
  ],
  'cas succeeding against an overwritten value': (key) => [
    ...sequential(9001, key, 'put', 'x0'), ...sequential(9001, key, 'put', 'x1'),
    ...sequential(9002, key, 'cas', ['x0', 'x2']),
  ],
};

const verdictOf = (events: readonly HistoryEvent[]): string => checkLinearizability(events).result;

// ---------------------------------------------------------------------------------------------

test('histories simulated on a real register are always linearizable', () => {
  const options = fc.record({
    operations: fc.integer({ min: 1, max: 200 }),
    keys: fc.integer({ min: 1, max: 3 }),
    processes: fc.integer({ min: 1, max: 6 }),
    infoRate: fc.constantFrom(0, 0.05, 0.2),
    valueDomain: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  });
  fc.assert(
    fc.property(fc.integer(), options, (seed, generator) => {
      const verdict = checkLinearizability(generateHistory(seed, generator));
      assert.equal(verdict.result, 'ok', JSON.stringify(verdict));
    }),
    { numRuns: 300 },
  );
});

for (const [name, plant] of Object.entries(ANOMALIES)) {
  test(`a ${name} planted after a linearizable history is reported on its key`, () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 0, max: 2 }), (seed, keyIndex) => {
        const base = generateHistory(seed, { operations: 120, keys: 3, processes: 4, infoRate: 0.1 });
        const key = `k${keyIndex}`;
        const verdict = checkLinearizability([...base, ...history(plant(key), 1e9)]);
        assert.equal(verdict.result, 'violation');
        assert.equal(verdict.result === 'violation' && verdict.key, key);
      }),
      { numRuns: 60 },
    );
  });
}

test('a violation names the op that could not be linearized, with its times', () => {
  const verdict = checkLinearizability(history(ANOMALIES['stale read']('k')));
  assert.equal(verdict.result, 'violation');
  assert.match(verdict.result === 'violation' ? verdict.detail : '', /process 9002 get -> "x0" \[t=4\.\.5\]/);
});

test('a read of a value that was never written is a violation', () => {
  const verdict = checkLinearizability(history([...sequential(1, 'k', 'put', 'a'), ...sequential(2, 'k', 'get', null, 'b')]));
  assert.equal(verdict.result, 'violation');
});

test('a read of a value written only by an op invoked after it returned is a violation', () => {
  const rows = [...sequential(2, 'k', 'get', null, 'b'), ...sequential(1, 'k', 'put', 'b')];
  assert.equal(verdictOf(history(rows)), 'violation');
});

test('an info put may or may not have taken effect', () => {
  const before: Row[] = [...sequential(1, 'k', 'put', 'a'), [2, 'invoke', 'put', 'k', 'b'], [2, 'info', 'put', 'k', 'b']];
  assert.equal(verdictOf(history([...before, ...sequential(3, 'k', 'get', null, 'b')])), 'ok');
  assert.equal(verdictOf(history([...before, ...sequential(3, 'k', 'get', null, 'a')])), 'ok');
});

test('an info put can take effect after later ops, but only once', () => {
  const before: Row[] = [[2, 'invoke', 'put', 'k', 'b'], [2, 'info', 'put', 'k', 'b'], ...sequential(1, 'k', 'put', 'a')];
  const late = [...before, ...sequential(3, 'k', 'get', null, 'a'), ...sequential(3, 'k', 'get', null, 'b')];
  assert.equal(verdictOf(history(late)), 'ok');
  assert.equal(verdictOf(history([...late, ...sequential(3, 'k', 'get', null, 'a')])), 'violation');
});

test('an info delete and an info cas may or may not have taken effect', () => {
  const del: Row[] = [...sequential(1, 'k', 'put', 'a'), [2, 'invoke', 'delete', 'k', null], [2, 'info', 'delete', 'k', null]];
  assert.equal(verdictOf(history([...del, ...sequential(3, 'k', 'get', null, null)])), 'ok');
  assert.equal(verdictOf(history([...del, ...sequential(3, 'k', 'get', null, 'a')])), 'ok');
  const cas: Row[] = [...sequential(1, 'k', 'put', 'a'), [2, 'invoke', 'cas', 'k', ['a', 'b']], [2, 'info', 'cas', 'k', ['a', 'b']]];
  assert.equal(verdictOf(history([...cas, ...sequential(3, 'k', 'get', null, 'b')])), 'ok');
  assert.equal(verdictOf(history([...cas, ...sequential(3, 'k', 'get', null, 'a')])), 'ok');
});

test('an op that never completed counts as info', () => {
  const rows: Row[] = [...sequential(1, 'k', 'put', 'a'), [2, 'invoke', 'put', 'k', 'b'], ...sequential(3, 'k', 'get', null, 'b')];
  assert.equal(verdictOf(history(rows)), 'ok');
});

test('a failed cas did not take effect', () => {
  const rows: Row[] = [...sequential(1, 'k', 'put', 'a'), [2, 'invoke', 'cas', 'k', ['z', 'b']], [2, 'fail', 'cas', 'k', ['z', 'b']]];
  assert.equal(verdictOf(history([...rows, ...sequential(3, 'k', 'get', null, 'a')])), 'ok');
  assert.equal(verdictOf(history([...rows, ...sequential(3, 'k', 'get', null, 'b')])), 'violation');
});

test('the verdict names the first violating key in sorted order', () => {
  const rows = [...ANOMALIES['stale read']('k2'), ...ANOMALIES['lost write']('k10')];
  const verdict = checkLinearizability(history(rows));
  assert.equal(verdict.result === 'violation' && verdict.key, 'k10');
});

test('a history too hard for the step budget is unknown, not ok', () => {
  const events = generateHistory(7, { operations: 400, keys: 2, processes: 6, infoRate: 0.05 });
  const verdict = checkLinearizability(events, { maxStepsPerKey: 10 });
  assert.equal(verdict.result, 'unknown');
  assert.match(verdict.result === 'unknown' ? verdict.reason : '', /step budget of 10 exhausted on key "k0"/);
});

test('a history checked past its deadline is unknown, not ok', () => {
  const events = generateHistory(7, { operations: 100, keys: 2, processes: 4, infoRate: 0.05 });
  const verdict = checkLinearizability(events, { deadlineMs: 0 });
  assert.equal(verdict.result, 'unknown');
});

test('a completion without an outstanding invoke is a malformed history', () => {
  assert.throws(() => checkLinearizability(history([[1, 'ok', 'put', 'k', 'a']])), MalformedHistoryError);
  const twice: Row[] = [[1, 'invoke', 'put', 'k', 'a'], [1, 'invoke', 'get', 'k', null]];
  assert.throws(() => checkLinearizability(history(twice)), /still outstanding/);
});

test('a 10,000-op simulated history with info ops is decided linearizable', () => {
  const events = generateHistory(2024, { operations: 10_000, keys: 10, processes: 8, infoRate: 0.05 });
  const verdict = checkLinearizability(events);
  assert.deepEqual(verdict, { result: 'ok', keys: 10, operations: 10_000 });
});

// ---------------------------------------------------------------------------------------------
// Agreement with a brute-force search over every order on small random (often wrong) histories.

const OUTCOME_MIXES = [['ok', 'ok', 'ok', 'fail', 'info'], ['ok', 'ok', 'info', 'info', 'fail']] as const;

function randomSmallHistory(seed: number): HistoryEvent[] {
  const draw = random(seed);
  const [opCount, concurrency, keys] = [6 + draw(3), 2 + draw(4), 1 + draw(2)];
  const outcomes = OUTCOME_MIXES[draw(OUTCOME_MIXES.length)];
  const values = [null, 'a', 'b'];
  const events: HistoryEvent[] = [];
  const open = new Map<number, HistoryEvent>();
  let nextProcess = 0;
  for (let time = 0, invoked = 0; invoked < opCount || open.size > 0; time++) {
    const pending = [...open.values()];
    if (invoked < opCount && (pending.length === 0 || (pending.length < concurrency && draw(2) === 0))) {
      const op = OP_MIX[draw(OP_MIX.length)];
      const v = values[1 + draw(2)] as string;
      const value = op === 'put' ? v : op === 'cas' ? ([values[draw(3)], v] as const) : null;
      const event: HistoryEvent = { process: nextProcess++, type: 'invoke', op, key: `k${draw(keys)}`, value, time };
      open.set(event.process, event);
      events.push(event);
      invoked++;
      continue;
    }
    const invoke = pending[draw(pending.length)];
    const type = outcomes[draw(outcomes.length)];
    const value = invoke.op === 'get' ? (type === 'ok' ? values[draw(3)] : null) : invoke.value;
    if (draw(8) > 0) events.push({ ...invoke, type, value, time }); // else never completes
    open.delete(invoke.process);
  }
  return events;
}

interface BruteOp { readonly event: HistoryEvent; readonly read: HistoryEvent['value']; readonly invoke: number; readonly complete: number; readonly required: boolean }

function bruteForceLinearizable(events: readonly HistoryEvent[]): boolean {
  const ops: BruteOp[] = [];
  events.forEach((event, index) => {
    if (event.type !== 'invoke') return;
    const completionIndex = events.findIndex((e, i) => i > index && e.process === event.process);
    const completion = events[completionIndex];
    const type = completion?.type ?? 'info';
    if (type === 'fail' || (type === 'info' && event.op === 'get')) return;
    ops.push({ event, read: completion?.value ?? null, invoke: index, complete: type === 'ok' ? completionIndex : Infinity, required: type === 'ok' });
  });
  const keys = new Set(ops.map((o) => o.event.key));
  return [...keys].every((key) => searchAll(ops.filter((o) => o.event.key === key), null));
}

function searchAll(remaining: readonly BruteOp[], state: string | null): boolean {
  if (remaining.every((o) => !o.required)) return true;
  return remaining.some((o) => {
    if (remaining.some((r) => r.complete < o.invoke)) return false; // r must go first
    const { op, value } = o.event;
    let next = state;
    if (op === 'put') next = value as string;
    if (op === 'delete') next = null;
    if (op === 'get' && o.read !== state) return false;
    if (op === 'cas') {
      if ((value as readonly [string | null, string])[0] !== state) return false;
      next = (value as readonly [string | null, string])[1];
    }
    return searchAll(remaining.filter((r) => r !== o), next);
  });
}

test('the checker agrees with a brute-force search on small random histories', () => {
  fc.assert(
    fc.property(fc.integer(), (seed) => {
      const events = randomSmallHistory(seed);
      const expected = bruteForceLinearizable(events) ? 'ok' : 'violation';
      assert.equal(verdictOf(events), expected, JSON.stringify(events));
    }),
    { numRuns: 5000 },
  );
});
