// Placement constraints and spread preferences: parsing their text forms and evaluating them on a
// node. Parsing never throws: a bad constraint is a value (`ConstraintError`) whose message names the
// constraint and lists the forms that are accepted, so the store's validation can show it as is.
// Invariant: `matches` is a pure function of the parsed constraint and the node.

import type { ClusterNode, NodeRole } from '../state/types.ts';

export type ConstraintOperator = '==' | '!=';

/** The node attribute a constraint or a spread preference reads. */
export type NodeAttribute =
  | { readonly type: 'id' }
  | { readonly type: 'hostname' }
  | { readonly type: 'role' }
  | { readonly type: 'label'; readonly key: string };

export interface Constraint {
  readonly type: 'constraint';
  readonly attribute: NodeAttribute;
  readonly operator: ConstraintOperator;
  readonly value: string;
  /** The constraint as written (trimmed), for messages. */
  readonly text: string;
}

export interface ConstraintError {
  readonly type: 'error';
  readonly code: 'invalid-constraint' | 'invalid-preference';
  /** The text that was refused, as given. */
  readonly text: string;
  readonly message: string;
}

export interface SpreadPreference {
  readonly type: 'spread';
  readonly attribute: NodeAttribute;
  readonly text: string;
}

export const constraintForms =
  'node.id==ID, node.hostname==NAME, node.role==manager|worker|hybrid, node.labels.KEY==VALUE (each also with !=)';
export const preferenceForms = 'node.labels.KEY, node.id, node.hostname or node.role';

const roles: readonly NodeRole[] = ['manager', 'worker', 'hybrid'];
const labelKeyPattern = /^[A-Za-z0-9_][A-Za-z0-9_.\/-]*$/;
// A value has no whitespace and no '=' or '!' (so `a==b==c` and `a==!b` are refused, not guessed at).
const valuePattern = /^[^\s=!]+$/;
const labelPrefix = 'node.labels.';

/** Parses `ATTRIBUTE==VALUE` or `ATTRIBUTE!=VALUE`; spaces around the operator are allowed. */
export function parseConstraint(text: string): Constraint | ConstraintError {
  const fail = (problem: string): ConstraintError => ({
    type: 'error',
    code: 'invalid-constraint',
    text,
    message: `invalid placement constraint ${JSON.stringify(text)}: ${problem}; expected one of ${constraintForms}`,
  });
  const trimmed = text.trim();
  if (trimmed === '') return fail('it is empty');
  const equal = trimmed.indexOf('==');
  const notEqual = trimmed.indexOf('!=');
  if (equal < 0 && notEqual < 0) return fail("it has no operator ('==' or '!=')");
  const at = equal < 0 ? notEqual : notEqual < 0 ? equal : Math.min(equal, notEqual);
  const operator: ConstraintOperator = at === equal ? '==' : '!=';
  const name = trimmed.slice(0, at).trim();
  const value = trimmed.slice(at + 2).trim();
  if (name === '') return fail('the attribute before the operator is missing');
  const attribute = parseAttribute(name);
  if (typeof attribute === 'string') return fail(attribute);
  if (value === '') return fail(`the value after '${operator}' is missing`);
  if (!valuePattern.test(value)) {
    return fail(`the value ${JSON.stringify(value)} may not contain spaces, '=' or '!' (one operator per constraint)`);
  }
  if (attribute.type === 'role' && !(roles as readonly string[]).includes(value)) {
    return fail(`node.role is one of manager, worker or hybrid, not ${JSON.stringify(value)}`);
  }
  return { type: 'constraint', attribute, operator, value, text: trimmed };
}

/** Parses every constraint of a placement; the first bad one is returned as the error. */
export function parseConstraints(texts: readonly string[]): readonly Constraint[] | ConstraintError {
  const parsed: Constraint[] = [];
  for (const text of texts) {
    const constraint = parseConstraint(text);
    if (constraint.type === 'error') return constraint;
    parsed.push(constraint);
  }
  return parsed;
}

/** Parses a spread preference's attribute, e.g. `node.labels.zone`. */
export function parseSpread(text: string): SpreadPreference | ConstraintError {
  const trimmed = text.trim();
  const attribute = trimmed === '' ? 'it is empty' : parseAttribute(trimmed);
  if (typeof attribute === 'string') {
    return {
      type: 'error',
      code: 'invalid-preference',
      text,
      message: `invalid spread preference ${JSON.stringify(text)}: ${attribute}; expected ${preferenceForms}`,
    };
  }
  return { type: 'spread', attribute, text: trimmed };
}

/** The attribute named by `name`, or a description of what is wrong with it. */
function parseAttribute(name: string): NodeAttribute | string {
  switch (name) {
    case 'node.id':
      return { type: 'id' };
    case 'node.hostname':
      return { type: 'hostname' };
    case 'node.role':
      return { type: 'role' };
  }
  if (name.startsWith(labelPrefix)) {
    const key = name.slice(labelPrefix.length);
    if (key === '') return 'the label key after node.labels. is missing';
    if (!labelKeyPattern.test(key)) {
      return `the label key ${JSON.stringify(key)} may hold only letters, digits and . _ - /`;
    }
    return { type: 'label', key };
  }
  return `unknown attribute ${JSON.stringify(name)}`;
}

/** The node's value of an attribute, or null when the node has no such label. */
export function attributeValue(attribute: NodeAttribute, node: ClusterNode): string | null {
  switch (attribute.type) {
    case 'id':
      return node.id;
    case 'hostname':
      return node.name;
    case 'role':
      return node.role;
    case 'label':
      return Object.hasOwn(node.labels, attribute.key) ? node.labels[attribute.key]! : null;
  }
}

/**
 * Whether the node satisfies the constraint. Values compare exactly (hostnames too: the store
 * re-checks placements, and both must agree). A node without the label satisfies only `!=`.
 */
export function matches(constraint: Constraint, node: ClusterNode): boolean {
  const actual = attributeValue(constraint.attribute, node);
  const equal = actual !== null && actual === constraint.value;
  return constraint.operator === '==' ? equal : !equal;
}

/** Whether the node satisfies every constraint. */
export function matchesAll(constraints: readonly Constraint[], node: ClusterNode): boolean {
  for (const constraint of constraints) if (!matches(constraint, node)) return false;
  return true;
}
