// The store's view of placement constraints: a thin adapter over core/scheduler/constraints.ts, the
// one implementation of the constraint language. The store validates specs and re-checks task
// assignments with the very functions the scheduler places with, so the two cannot disagree; this
// file only turns the language's errors into the store's (invalid-argument, same message).

import {
  matches, parseConstraint as parseConstraintText, parseSpread as parseSpreadText,
  type Constraint, type ConstraintError, type SpreadPreference,
} from '../scheduler/constraints.ts';
import { invalidArgument, type StateError } from './errors.ts';
import type { ClusterNode } from './types.ts';

export type { Constraint, ConstraintOperator, SpreadPreference } from '../scheduler/constraints.ts';

const toStateError = (error: ConstraintError): StateError => invalidArgument(error.message);

export function parseConstraint(text: string): Constraint | StateError {
  const parsed = parseConstraintText(text);
  return parsed.type === 'error' ? toStateError(parsed) : parsed;
}

export function parseSpread(text: string): SpreadPreference | StateError {
  const parsed = parseSpreadText(text);
  return parsed.type === 'error' ? toStateError(parsed) : parsed;
}

export const isConstraint = (parsed: Constraint | StateError): parsed is Constraint => 'operator' in parsed;

export function nodeSatisfies(node: ClusterNode, constraint: Constraint): boolean {
  return matches(constraint, node);
}

/** The first of `constraints` (texts, already validated) that `node` fails, or null. */
export function firstUnsatisfied(node: ClusterNode, constraints: readonly string[]): string | null {
  for (const text of constraints) {
    const parsed = parseConstraintText(text);
    // A constraint the store cannot read holds nowhere: refusing is the safe side.
    if (parsed.type === 'error' || !matches(parsed, node)) return text;
  }
  return null;
}
