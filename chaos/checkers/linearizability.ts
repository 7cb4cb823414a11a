// Linearizability checker for the client key-value history (DESIGN.md, "Checkers").
// Each key is an independent register, so a history is linearizable iff each key's sub-history is
// (P-compositionality); keys are searched one at a time, in sorted order, with Wing & Gong's
// algorithm as improved by Lowe and Porcupine: call/return entries in a doubly linked list, a
// backtracking stack, and a cache of (linearized set, state) configurations already explored.
// Invariants:
// - 'ok' only when every key was searched to a linearization. A search cut short by the step
//   budget or the deadline gives 'unknown', never 'ok'.
// - Real-time order is the order of the events in the history (their index), which is the order
//   they happened; `time` is only reported. Equal times therefore never make two ops concurrent.
// - Simplifications applied before the search only drop linearizations that cannot exist, so they
//   never turn a linearizable history into a violation (each one says why it is sound).
//
// This file is the checker's public surface: options, verdict and the per-key loop that assembles
// it. Pairing and simplification live in linearizability-plan.ts, the search and its cache in
// linearizability-search.ts.

import { performance } from 'node:perf_hooks';
import type { HistoryEvent } from '../history.ts';
import { findImpossibleObservation, groupByKey, liveOperations, pairOperations, planOperations } from './linearizability-plan.ts';
import type { Operation } from './linearizability-plan.ts';
import { searchKey } from './linearizability-search.ts';
import type { Budget, KeyOutcome } from './linearizability-search.ts';

export { MalformedHistoryError } from './linearizability-plan.ts';

export interface LinearizabilityOptions {
  /** Search steps allowed per key before giving up with 'unknown'. Deterministic. */
  maxStepsPerKey?: number;
  /** Wall-clock budget for the whole check before giving up with 'unknown'. */
  deadlineMs?: number;
}

/** `operations` counts invoked operations: in the whole history, or on `key` for a violation. */
export type LinearizabilityVerdict =
  | { result: 'ok'; keys: number; operations: number }
  | { result: 'violation'; key: string; operations: number; detail: string }
  | { result: 'unknown'; reason: string; keys: number; operations: number };

export const DEFAULT_MAX_STEPS_PER_KEY = 2_000_000;
export const DEFAULT_DEADLINE_MS = 10_000;

export function checkLinearizability(
  history: readonly HistoryEvent[],
  options: LinearizabilityOptions = {},
): LinearizabilityVerdict {
  const maxSteps = options.maxStepsPerKey ?? DEFAULT_MAX_STEPS_PER_KEY;
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const deadline = performance.now() + deadlineMs;
  const byKey = groupByKey(pairOperations(history));
  const keys = [...byKey.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const operations = history.filter((event) => event.type === 'invoke').length;
  let unknownReason: string | undefined;
  for (const key of keys) {
    const keyOperations = byKey.get(key) ?? [];
    if (performance.now() >= deadline) {
      unknownReason ??= `deadline of ${deadlineMs} ms passed before key ${JSON.stringify(key)} was checked`;
      break;
    }
    const outcome = checkKey(keyOperations, { maxSteps, deadline });
    if (outcome.type === 'violation') {
      return { result: 'violation', key, operations: keyOperations.length, detail: outcome.detail };
    }
    if (outcome.type === 'budget') {
      unknownReason ??= `step budget of ${maxSteps} exhausted on key ${JSON.stringify(key)}`;
    } else if (outcome.type === 'deadline') {
      unknownReason ??= `timeout on key ${JSON.stringify(key)} after ${outcome.steps} steps (deadline ${deadlineMs} ms)`;
      break; // every later key would time out at once
    }
  }
  if (unknownReason !== undefined) {
    return { result: 'unknown', reason: unknownReason, keys: keys.length, operations };
  }
  return { result: 'ok', keys: keys.length, operations };
}

function checkKey(operations: readonly Operation[], budget: Budget): KeyOutcome {
  const live = liveOperations(operations);
  const impossible = findImpossibleObservation(live);
  if (impossible !== undefined) return { type: 'violation', detail: impossible };
  return searchKey(planOperations(live), budget);
}
