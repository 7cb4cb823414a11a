// Primitive checks shared by the validators. Each takes an `unknown` (commands arrive as JSON from
// clients and from the log, so their shape is not trusted), returns null when the value is fine and
// otherwise an invalid-argument error naming the field, the rule and the value it got. Checks are
// chained with `??`, which stops at the first error.

import { isLabelKey, labelKeyRule } from '../scheduler/constraints.ts';
import { invalidArgument, type StateError } from './errors.ts';
import { stateLimits } from './limits.ts';

export type Check = StateError | null;

/** A value as it appears in messages: JSON, or `nothing` when absent. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function checkInteger(value: unknown, path: string, min: number, max: number): Check {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max) return null;
  return invalidArgument(`${path} must be an integer from ${min} to ${max}, got ${describe(value)}`);
}

export function checkNumber(value: unknown, path: string, min: number, max: number): Check {
  if (typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max) return null;
  return invalidArgument(`${path} must be a number from ${min} to ${max}, got ${describe(value)}`);
}

export function checkBoolean(value: unknown, path: string): Check {
  return typeof value === 'boolean' ? null : invalidArgument(`${path} must be true or false, got ${describe(value)}`);
}

export function checkString(value: unknown, path: string, maxChars: number, allowEmpty = true): Check {
  if (typeof value !== 'string') return invalidArgument(`${path} must be a string, got ${describe(value)}`);
  if (!allowEmpty && value.length === 0) return invalidArgument(`${path} must not be empty`);
  if (value.length > maxChars) return invalidArgument(`${path} must be at most ${maxChars} characters, got ${value.length}`);
  return null;
}

export function checkEnum(value: unknown, path: string, allowed: readonly string[]): Check {
  if (typeof value === 'string' && allowed.includes(value)) return null;
  return invalidArgument(`${path} must be one of ${allowed.join(', ')}; got ${describe(value)}`);
}

export function checkArray(value: unknown, path: string, maxItems: number, allowEmpty = true): Check {
  if (!Array.isArray(value)) return invalidArgument(`${path} must be a list, got ${describe(value)}`);
  if (!allowEmpty && value.length === 0) return invalidArgument(`${path} must not be empty`);
  if (value.length > maxItems) return invalidArgument(`${path} must have at most ${maxItems} items, got ${value.length}`);
  return null;
}

/** Runs `check` on each item of a list already known to be an array; the first error wins. */
export function checkEach(items: readonly unknown[], check: (item: unknown, index: number) => Check): Check {
  for (let i = 0; i < items.length; i++) {
    const error = check(items[i], i);
    if (error !== null) return error;
  }
  return null;
}

export function checkRecord(value: unknown, path: string): Check {
  return isRecord(value) ? null : invalidArgument(`${path} must be an object, got ${describe(value)}`);
}

const idPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

export function checkId(value: unknown, path: string): Check {
  if (typeof value === 'string' && value.length <= stateLimits.idChars && idPattern.test(value)) return null;
  return invalidArgument(
    `${path} must be 1 to ${stateLimits.idChars} letters, digits, '.', '_', ':' or '-', starting with a letter or digit; got ${describe(value)}`,
  );
}

const dnsLabelPattern = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** Service, ingress and certificate names: usable as a DNS label. */
export function checkDnsLabel(value: unknown, path: string): Check {
  if (typeof value === 'string' && value.length <= stateLimits.dnsLabelChars && dnsLabelPattern.test(value)) return null;
  return invalidArgument(
    `${path} must be a DNS label: 1 to ${stateLimits.dnsLabelChars} lowercase letters, digits or '-', starting and ending with a letter or digit; got ${describe(value)}`,
  );
}

const objectNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Secret and volume names: they become file and directory names on workers. */
export function checkObjectName(value: unknown, path: string): Check {
  if (typeof value === 'string' && value.length <= stateLimits.objectNameChars && objectNamePattern.test(value)) return null;
  return invalidArgument(
    `${path} must be 1 to ${stateLimits.objectNameChars} letters, digits, '.', '_' or '-', starting with a letter or digit; got ${describe(value)}`,
  );
}

const hostnameLabelPattern = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** A hostname; with `wildcard`, a leading `*.` is allowed (ingress hosts, certificate domains). */
export function checkHostname(value: unknown, path: string, wildcard = false): Check {
  const error = invalidArgument(
    `${path} must be a hostname (dot-separated labels of letters, digits and '-', at most ${stateLimits.hostnameChars} characters${wildcard ? ", optionally starting with '*.'" : ''}); got ${describe(value)}`,
  );
  if (typeof value !== 'string' || value.length === 0 || value.length > stateLimits.hostnameChars) return error;
  const name = wildcard && value.startsWith('*.') ? value.slice(2) : value;
  return name.split('.').every((label) => hostnameLabelPattern.test(label)) ? null : error;
}

/** A node label key: the rule of the constraint language, so every label can be named in a constraint. */
export function checkLabelKey(value: unknown, path: string): Check {
  if (typeof value === 'string' && isLabelKey(value)) return null;
  return invalidArgument(`${path} must be ${labelKeyRule}; got ${describe(value)}`);
}

export function checkLabels(value: unknown, path: string): Check {
  if (!isRecord(value)) return invalidArgument(`${path} must be an object of string values, got ${describe(value)}`);
  const keys = Object.keys(value).sort();
  if (keys.length > stateLimits.labels) return invalidArgument(`${path} must have at most ${stateLimits.labels} labels, got ${keys.length}`);
  for (const key of keys) {
    const error = checkLabelKey(key, `${path} key`) ?? checkString(value[key], `${path}.${key}`, stateLimits.labelValueChars);
    if (error !== null) return error;
  }
  return null;
}

export function checkResources(value: unknown, path: string): Check {
  if (!isRecord(value)) return invalidArgument(`${path} must be an object { cpuMillis, memoryBytes }, got ${describe(value)}`);
  return (
    checkInteger(value.cpuMillis, `${path}.cpuMillis`, 0, Number.MAX_SAFE_INTEGER) ??
    checkInteger(value.memoryBytes, `${path}.memoryBytes`, 0, Number.MAX_SAFE_INTEGER)
  );
}

export function checkTimeUs(value: unknown, path = 'atUs'): Check {
  return checkInteger(value, path, 0, Number.MAX_SAFE_INTEGER);
}

export function checkVersionField(value: unknown, path = 'version'): Check {
  return checkInteger(value, path, 1, Number.MAX_SAFE_INTEGER);
}
