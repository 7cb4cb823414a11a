// Placement constraints and spread preferences: parsing their text forms and evaluating them on a
// node. This is the one implementation of the constraint language: the scheduler places with it and
// the store validates specs and re-checks assignments with it (core/state/constraints.ts adapts its
// errors), so an assignment the scheduler decides is never refused by the store, nor the reverse.
// Parsing never throws: a bad constraint is a value (`ConstraintError`) whose message names the
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

/**
 * Bounds of the language, shared with the store's limits: a constraint's text, and a label key (the
 * store validates node labels with `isLabelKey`, so every label a node can carry can be named by a
 * constraint and no constraint can name a label that no node can carry).
 */
export const constraintLimits = { textChars: 256, labelKeyChars: 128 } as const;

const roles: readonly NodeRole[] = ['manager', 'worker', 'hybrid'];
const labelKeyPattern = /^[A-Za-z0-9]([A-Za-z0-9._\/-]*[A-Za-z0-9])?$/;
export const labelKeyRule =
  `1 to ${constraintLimits.labelKeyChars} letters, digits, '.', '_', '/' or '-', starting and ending with a letter or digit`;
// A value has no whitespace and no '=' or '!' (so `a==b==c` and `a==!b` are refused, not guessed at).
const valuePattern = /^[^\s=!]+$/;
const labelPrefix = 'node.labels.';

/** Whether `key` is a valid label key: see `labelKeyRule`. */
export function isLabelKey(key: string): boolean {
  return key.length <= constraintLimits.labelKeyChars && labelKeyPattern.test(key);
}

// The refused text as messages quote it: in full up to a bound, so a huge input stays a short message.
const quotedChars = 80;
const quote = (text: string): string => JSON.stringify(text.length > quotedChars ? `${text.slice(0, quotedChars - 3)}...` : text);

/**
 * Parses `ATTRIBUTE==VALUE` or `ATTRIBUTE!=VALUE`; spaces around the operator and the whole text are
 * allowed (and dropped), spaces inside the attribute or the value are not.
 */
export function parseConstraint(text: string): Constraint | ConstraintError {
  const fail = (problem: string): ConstraintError => ({
    type: 'error',
    code: 'invalid-constraint',
    text,
    message: `invalid placement constraint ${quote(text)}: ${problem}; expected one of ${constraintForms}`,
  });
  if (text.length > constraintLimits.textChars) {
    return fail(`it has ${text.length} characters, more than the limit of ${constraintLimits.textChars}`);
  }
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
    return fail(`the value ${quote(value)} may not contain spaces, '=' or '!' (one operator per constraint)`);
  }
  if (attribute.type === 'role' && !(roles as readonly string[]).includes(value)) {
    return fail(`node.role is one of manager, worker or hybrid, not ${quote(value)}`);
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

/**
 * Parses a spread preference's attribute, e.g. `node.labels.zone`. It is a bare attribute name, so
 * spaces around it are refused rather than dropped (the store has always refused them).
 */
export function parseSpread(text: string): SpreadPreference | ConstraintError {
  const attribute =
    text.trim() === '' ? 'it is empty'
    : text !== text.trim() ? 'it has spaces around the attribute'
    : parseAttribute(text);
  if (typeof attribute === 'string') {
    return {
      type: 'error',
      code: 'invalid-preference',
      text,
      message: `invalid spread preference ${quote(text)}: ${attribute}; expected ${preferenceForms}`,
    };
  }
  return { type: 'spread', attribute, text };
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
    if (!isLabelKey(key)) return `the label key ${quote(key)} must be ${labelKeyRule}`;
    return { type: 'label', key };
  }
  return `unknown attribute ${quote(name)}`;
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
