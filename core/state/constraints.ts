// Placement constraints and spread keys over node attributes: parsing (with the errors users see)
// and evaluation. The store checks constraints again when a task is assigned, so the scheduler and
// the store must agree on their meaning: both use these functions.
//   KEY==VALUE or KEY!=VALUE, KEY one of node.id, node.hostname (the node's name), node.role,
//   node.labels.<label>. A missing label never equals a value, so `!=` holds on a node without it.

import { invalidArgument, type StateError } from './errors.ts';
import { checkLabelKey } from './checks.ts';
import type { ClusterNode, NodeRole } from './types.ts';

export type ConstraintOperator = '==' | '!=';

export interface Constraint {
  readonly key: string;
  readonly operator: ConstraintOperator;
  readonly value: string;
}

const roles: readonly NodeRole[] = ['manager', 'worker', 'hybrid'];
const keyHelp = 'KEY must be node.id, node.hostname, node.role or node.labels.<label>';

/** Why `key` is not a node attribute, or null when it is one. */
export function nodeAttributeKeyError(key: string): string | null {
  if (key === 'node.id' || key === 'node.hostname' || key === 'node.role') return null;
  if (key.startsWith('node.labels.')) {
    return checkLabelKey(key.slice('node.labels.'.length), 'the label') === null ? null : `"${key}" is not a valid label name`;
  }
  return keyHelp;
}

export function parseConstraint(text: string): Constraint | StateError {
  const invalid = (why: string): StateError => invalidArgument(`constraint "${text}" is invalid: ${why}`);
  const match = /^([^=!]+)(==|!=)([^=!]+)$/.exec(text);
  if (match === null) return invalid('expected KEY==VALUE or KEY!=VALUE');
  const key = match[1].trim();
  const value = match[3].trim();
  const keyError = nodeAttributeKeyError(key);
  if (keyError !== null) return invalid(keyError);
  if (value.length === 0) return invalid('VALUE must not be empty');
  if (key === 'node.role' && !(roles as readonly string[]).includes(value)) {
    return invalid(`node.role is one of ${roles.join(', ')}; got "${value}"`);
  }
  return { key, operator: match[2] as ConstraintOperator, value };
}

export const isConstraint = (parsed: Constraint | StateError): parsed is Constraint => 'operator' in parsed;

/** The value of a node attribute (see the header), or null when the node has no such label. */
export function nodeAttribute(node: ClusterNode, key: string): string | null {
  switch (key) {
    case 'node.id':
      return node.id;
    case 'node.hostname':
      return node.name;
    case 'node.role':
      return node.role;
  }
  if (key.startsWith('node.labels.')) return node.labels[key.slice('node.labels.'.length)] ?? null;
  return null;
}

export function nodeSatisfies(node: ClusterNode, constraint: Constraint): boolean {
  const actual = nodeAttribute(node, constraint.key);
  return constraint.operator === '==' ? actual === constraint.value : actual !== constraint.value;
}

/** The first of `constraints` (texts, already validated) that `node` fails, or null. */
export function firstUnsatisfied(node: ClusterNode, constraints: readonly string[]): string | null {
  for (const text of constraints) {
    const parsed = parseConstraint(text);
    if (!isConstraint(parsed) || !nodeSatisfies(node, parsed)) return text;
  }
  return null;
}
