// The client history as JSON lines (DESIGN.md, "History format"): one event per line, in the order
// the events happened, so that an external Jepsen/Porcupine-style checker can read what a run
// recorded and a saved history can be checked again later.
// Invariants: every line is one event with exactly the fields of HistoryEvent, written in a fixed
// field order (so the same history always gives the same bytes); parsing what was written gives
// back an equal history; parsing rejects anything that is not a valid event, or a `time` that goes
// backwards, with an error naming the 1-based line number and what is wrong.

import type { HistoryEvent, HistoryEventType, HistoryOp } from './history.ts';

export class HistoryParseError extends Error {
  readonly code = 'history_parse';

  constructor(
    readonly line: number,
    readonly problem: string,
  ) {
    super(`history line ${line}: ${problem}`);
    this.name = 'HistoryParseError';
  }
}

const FIELDS = ['process', 'type', 'op', 'key', 'value', 'time'] as const;
const TYPES: readonly HistoryEventType[] = ['invoke', 'ok', 'fail', 'info'];
const OPS: readonly HistoryOp[] = ['put', 'get', 'delete', 'cas'];

/** One event as one JSON line (without the line terminator), fields in the documented order. */
export function historyEventToJson(event: HistoryEvent): string {
  const { process, type, op, key, value, time } = event;
  return JSON.stringify({ process, type, op, key, value, time });
}

/** Hands each event to `sink` as one JSON line, in order; lines carry no terminator. */
export function writeHistoryJsonLines(
  history: readonly HistoryEvent[],
  sink: (line: string) => void,
): void {
  for (const event of history) sink(historyEventToJson(event));
}

/** The whole history as JSON lines, each ended by '\n' (the empty history is ''). */
export function historyToJsonLines(history: readonly HistoryEvent[]): string {
  const lines: string[] = [];
  writeHistoryJsonLines(history, (line) => lines.push(line));
  return lines.map((line) => `${line}\n`).join('');
}

/**
 * Parses JSON lines back into a history. Blank lines (such as the final newline) are skipped;
 * `\r\n` line ends are accepted. Throws HistoryParseError at the first invalid line.
 */
export function parseHistoryJsonLines(text: string): HistoryEvent[] {
  const history: HistoryEvent[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index].endsWith('\r') ? lines[index].slice(0, -1) : lines[index];
    if (line.trim() === '') continue;
    const lineNumber = index + 1;
    const event = parseHistoryEventLine(line, lineNumber);
    const previous = history[history.length - 1];
    if (previous !== undefined && event.time < previous.time) {
      throw new HistoryParseError(
        lineNumber,
        `time ${event.time} is before the previous event's time ${previous.time}; events must be in the order they happened`,
      );
    }
    history.push(event);
  }
  return history;
}

/** Parses and validates one line; `lineNumber` is only used in the error. */
export function parseHistoryEventLine(line: string, lineNumber: number): HistoryEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    throw new HistoryParseError(lineNumber, `not valid JSON (${(error as Error).message})`);
  }
  const problem = { text: '' };
  const event = validateEvent(parsed, problem);
  if (event === undefined) throw new HistoryParseError(lineNumber, problem.text);
  return event;
}

function validateEvent(parsed: unknown, problem: { text: string }): HistoryEvent | undefined {
  const fail = (text: string): undefined => {
    problem.text = text;
    return undefined;
  };
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return fail(`expected a JSON object with fields ${FIELDS.join(', ')}`);
  }
  const record = parsed as Record<string, unknown>;
  const unexpected = Object.keys(record).find((name) => !(FIELDS as readonly string[]).includes(name));
  if (unexpected !== undefined) return fail(`unexpected field "${unexpected}"`);
  const missing = FIELDS.find((name) => !(name in record));
  if (missing !== undefined) return fail(`missing field "${missing}"`);

  const { process, type, op, key, value, time } = record;
  if (typeof process !== 'number' || !Number.isSafeInteger(process) || process < 0) {
    return fail(`"process" must be a non-negative integer, got ${JSON.stringify(process)}`);
  }
  if (!TYPES.includes(type as HistoryEventType)) {
    return fail(`"type" must be one of ${TYPES.join(', ')}, got ${JSON.stringify(type)}`);
  }
  if (!OPS.includes(op as HistoryOp)) {
    return fail(`"op" must be one of ${OPS.join(', ')}, got ${JSON.stringify(op)}`);
  }
  if (typeof key !== 'string' || key === '') {
    return fail(`"key" must be a non-empty string, got ${JSON.stringify(key)}`);
  }
  if (typeof time !== 'number' || !Number.isFinite(time) || time < 0) {
    return fail(`"time" must be a non-negative number of microseconds, got ${JSON.stringify(time)}`);
  }
  const checked = validateValue(op as HistoryOp, type as HistoryEventType, value);
  if (!checked.valid) return fail(checked.problem);
  return {
    process,
    type: type as HistoryEventType,
    op: op as HistoryOp,
    key,
    value: checked.value,
    time,
  };
}

type ValueCheck =
  | { readonly valid: true; readonly value: HistoryEvent['value'] }
  | { readonly valid: false; readonly problem: string };

function validateValue(op: HistoryOp, type: HistoryEventType, value: unknown): ValueCheck {
  const accept = (checked: HistoryEvent['value']): ValueCheck => ({ valid: true, value: checked });
  const reject = (expected: string): ValueCheck => ({
    valid: false,
    problem: `"value" of a ${op} ${type} must be ${expected}, got ${JSON.stringify(value)}`,
  });
  switch (op) {
    case 'put':
      return typeof value === 'string' ? accept(value) : reject('the string written');
    case 'get':
      if (value === null) return accept(null);
      if (type !== 'ok') return reject('null');
      return typeof value === 'string' ? accept(value) : reject('the string read or null when absent');
    case 'delete':
      return value === null ? accept(null) : reject('null');
    case 'cas':
      if (
        Array.isArray(value) &&
        value.length === 2 &&
        (value[0] === null || typeof value[0] === 'string') &&
        typeof value[1] === 'string'
      ) {
        return accept([value[0] as string | null, value[1] as string] as const);
      }
      return reject('[expected (a string, or null for absent), new (a string)]');
    default:
      return assertNever(op);
  }
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
