// Planning for the linearizability checker: turns the raw history into operations (each invoke
// paired with its completion), splits them by key, and simplifies one key's operations before the
// search (linearizability-search.ts) sees them.
// Invariants:
// - Pairing follows the history's format exactly: one outstanding invoke per process, completed by
//   the same op on the same key; anything else is a MalformedHistoryError, never a verdict.
// - Info and never-completed ops return at +infinity (they may have taken effect at any later time).
// - Every simplification only drops linearizations that cannot exist, so it never turns a
//   linearizable history into a violation (each one says why it is sound).

import type { HistoryEvent, HistoryOp } from '../history.ts';

/** The history breaks its own format (pairing of invokes and completions). */
export class MalformedHistoryError extends Error {
  readonly code = 'malformed_history';

  constructor(
    readonly index: number,
    problem: string,
  ) {
    super(`history event ${index}: ${problem}`);
    this.name = 'MalformedHistoryError';
  }
}

/** One invoke matched with its completion; info and never-completed ops end at +infinity. */
export interface Operation {
  readonly process: number;
  readonly op: HistoryOp;
  readonly key: string;
  readonly input: HistoryEvent['value'];
  readonly invokeIndex: number;
  readonly invokeTime: number;
  status: 'ok' | 'fail' | 'info';
  output: HistoryEvent['value']; // what an ok get read
  completionIndex: number;
  completionTime: number;
}

// ---------------------------------------------------------------------------------------------
// Pairing events into operations.

export function pairOperations(history: readonly HistoryEvent[]): Operation[] {
  const operations: Operation[] = [];
  const outstanding = new Map<number, Operation>();
  history.forEach((event, index) => {
    const open = outstanding.get(event.process);
    if (event.type === 'invoke') {
      if (open !== undefined) {
        throw new MalformedHistoryError(index, `process ${event.process} invoked ${event.op} while its ${open.op} invoked at event ${open.invokeIndex} is still outstanding`);
      }
      const operation: Operation = {
        process: event.process, op: event.op, key: event.key, input: event.value,
        invokeIndex: index, invokeTime: event.time,
        status: 'info', output: null, completionIndex: Infinity, completionTime: Infinity,
      };
      outstanding.set(event.process, operation);
      operations.push(operation);
      return;
    }
    if (open === undefined) {
      throw new MalformedHistoryError(index, `process ${event.process} completed ${event.op} (${event.type}) without an outstanding invoke`);
    }
    if (open.op !== event.op || open.key !== event.key) {
      throw new MalformedHistoryError(index, `process ${event.process} completed ${event.op} on ${JSON.stringify(event.key)} but invoked ${open.op} on ${JSON.stringify(open.key)}`);
    }
    outstanding.delete(event.process);
    open.status = event.type;
    if (event.type === 'info') return; // unknown outcome: its return stays at +infinity
    open.output = event.value;
    open.completionIndex = index;
    open.completionTime = event.time;
  });
  return operations; // ops never completed stay 'info', as in Jepsen
}

export function groupByKey(operations: readonly Operation[]): Map<string, Operation[]> {
  const byKey = new Map<string, Operation[]>();
  for (const operation of operations) {
    const list = byKey.get(operation.key);
    if (list === undefined) byKey.set(operation.key, [operation]);
    else list.push(operation);
  }
  return byKey;
}

// ---------------------------------------------------------------------------------------------
// Planning one key: drop what cannot matter, catch impossible reads cheaply, fix return positions.

/** An op the search must place (required) or may place (optional: info, never forced). */
export interface PlannedOp {
  readonly operation: Operation;
  readonly callPosition: number;
  readonly returnPosition: number; // Infinity for optional ops
}

/** The ops that can matter: a fail certainly did not take effect and an info get constrains nothing. */
export function liveOperations(operations: readonly Operation[]): Operation[] {
  return operations.filter((o) => o.status !== 'fail' && !(o.status === 'info' && o.op === 'get'));
}

const writtenValue = (o: Operation): string | null =>
  o.op === 'put' ? (o.input as string) : o.op === 'cas' ? (o.input as readonly [string | null, string])[1] : null;

/** The value an op needs to find in the register, if any (null means absent). */
const observedValue = (o: Operation): string | null | undefined =>
  o.op === 'get' ? (o.output as string | null) : o.op === 'cas' ? (o.input as readonly [string | null, string])[0] : undefined;

/**
 * An ok op that saw value v needs some other op writing v invoked before it returned. Checking
 * this first turns the common "read a value nobody wrote (yet)" bug into a clear message instead
 * of an exhaustive search.
 */
export function findImpossibleObservation(live: readonly Operation[]): string | undefined {
  const writerInvokes = new Map<string, number[]>(); // value -> invoke indexes of writers
  for (const o of live) {
    const value = writtenValue(o);
    if (o.op === 'delete' || value === null) continue;
    const list = writerInvokes.get(value) ?? [];
    list.push(o.invokeIndex);
    writerInvokes.set(value, list);
  }
  for (const o of live) {
    const seen = observedValue(o);
    if (o.status !== 'ok' || seen === undefined || seen === null) continue;
    const writers = writerInvokes.get(seen) ?? [];
    const own = o.op === 'cas' && writtenValue(o) === seen ? 1 : 0; // a cas [v, v] cannot feed itself
    const earlier = writers.filter((invoke) => invoke < o.completionIndex).length - own;
    if (earlier <= 0) {
      return `${describe(o)} saw ${JSON.stringify(seen)}, but no write of that value was invoked before it returned`;
    }
  }
  return undefined;
}

/**
 * Fixes each op's call and return position. Info ops get return +infinity and are optional, with
 * two sound exceptions:
 * - an info write whose value nobody observes is dropped: in any linearization containing it the
 *   next op that depends on the register would have to observe that value, so only blind writes
 *   follow it, and removing it changes nothing;
 * - an info write that is the only writer of value v, when an ok op observed v, certainly took
 *   effect before that op returned, so it becomes required with that return as its own.
 */
export function planOperations(live: readonly Operation[]): PlannedOp[] {
  const observed = new Set<string | null>();
  const firstObserverReturn = new Map<string, number>();
  const writerCounts = new Map<string | null, number>();
  for (const o of live) {
    const seen = observedValue(o);
    if (seen !== undefined) observed.add(seen);
    if (seen != null && o.status === 'ok') {
      firstObserverReturn.set(seen, Math.min(firstObserverReturn.get(seen) ?? Infinity, o.completionIndex));
    }
    if (o.op !== 'get') writerCounts.set(writtenValue(o), (writerCounts.get(writtenValue(o)) ?? 0) + 1);
  }
  const planned: PlannedOp[] = [];
  for (const o of live) {
    if (o.status === 'ok') {
      planned.push({ operation: o, callPosition: o.invokeIndex, returnPosition: o.completionIndex });
      continue;
    }
    const value = writtenValue(o);
    if (!observed.has(value)) continue;
    const deadline = value === null || writerCounts.get(value) !== 1 ? undefined : firstObserverReturn.get(value);
    // Just before the observer's return, so the observer's return never passes it unplaced.
    const returnPosition = deadline === undefined ? Infinity : deadline - 0.5;
    planned.push({ operation: o, callPosition: o.invokeIndex, returnPosition });
  }
  return planned;
}

export function describe(o: Operation): string {
  const returned = o.status === 'info' ? '∞ (info)' : String(o.completionTime);
  const cas = o.input as readonly [string | null, string];
  const call =
    o.op === 'put' ? `put ${JSON.stringify(o.input)}` :
    o.op === 'get' ? `get -> ${JSON.stringify(o.output)}` :
    o.op === 'cas' ? `cas ${JSON.stringify(cas[0])} -> ${JSON.stringify(cas[1])}` : 'delete';
  return `process ${o.process} ${call} [t=${o.invokeTime}..${returned}]`;
}
