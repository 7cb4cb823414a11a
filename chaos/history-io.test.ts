// Proves that histories survive the trip through JSON lines unchanged, that the bytes written are
// the documented format, and that every kind of bad line is rejected with its line number.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { HistoryEvent, HistoryEventType, HistoryOp } from './history.ts';
import {
  HistoryParseError,
  historyEventToJson,
  historyToJsonLines,
  parseHistoryJsonLines,
  writeHistoryJsonLines,
} from './history-io.ts';

const TYPES: readonly HistoryEventType[] = ['invoke', 'ok', 'fail', 'info'];
const OPS: readonly HistoryOp[] = ['put', 'get', 'delete', 'cas'];
const text = fc.string({ unit: 'binary', maxLength: 12 }); // lone surrogates and controls included

function valueFor(op: HistoryOp, type: HistoryEventType): fc.Arbitrary<HistoryEvent['value']> {
  switch (op) {
    case 'put': return text;
    case 'get': return type === 'ok' ? fc.option(text, { nil: null }) : fc.constant(null);
    case 'delete': return fc.constant(null);
    case 'cas': return fc.tuple(fc.option(text, { nil: null }), text);
  }
}

const eventShape = fc.record({
  process: fc.nat(),
  type: fc.constantFrom(...TYPES),
  op: fc.constantFrom(...OPS),
  key: fc.string({ minLength: 1, maxLength: 6 }),
  timeStep: fc.nat({ max: 1_000_000 }),
});

const historyArbitrary: fc.Arbitrary<HistoryEvent[]> = fc
  .array(eventShape.chain((shape) => valueFor(shape.op, shape.type).map((value) => ({ ...shape, value }))), { maxLength: 30 })
  .map((shapes) => {
    let time = 0;
    return shapes.map(({ timeStep, ...event }) => ({ ...event, time: (time += timeStep) }));
  });

const invoke: HistoryEvent = { process: 3, type: 'invoke', op: 'cas', key: 'k7', value: ['a', 'b'], time: 1523000 };
const ok: HistoryEvent = { ...invoke, type: 'ok', time: 1531000 };

function parseError(input: string): HistoryParseError {
  try {
    parseHistoryJsonLines(input);
  } catch (error) {
    assert.ok(error instanceof HistoryParseError, String(error));
    return error;
  }
  assert.fail(`expected ${JSON.stringify(input)} to be rejected`);
}

test('a history read back from JSON lines equals the history written', () => {
  fc.assert(
    fc.property(historyArbitrary, (history) => {
      assert.deepEqual(parseHistoryJsonLines(historyToJsonLines(history)), history);
    }),
    { numRuns: 300 },
  );
});

test('events are written in the documented field order, one per line', () => {
  const reordered = { time: 1523000, value: ['a', 'b'], key: 'k7', op: 'cas', type: 'invoke', process: 3 } as HistoryEvent;
  const expected = '{"process":3,"type":"invoke","op":"cas","key":"k7","value":["a","b"],"time":1523000}';
  assert.equal(historyEventToJson(reordered), expected);
  assert.equal(historyToJsonLines([invoke, ok]), `${expected}\n${expected.replace('invoke', 'ok').replace('1523000', '1531000')}\n`);
  assert.equal(historyToJsonLines([]), '');
});

test('the sink receives each event as one line, in order, without a terminator', () => {
  const lines: string[] = [];
  writeHistoryJsonLines([invoke, ok], (line) => lines.push(line));
  assert.deepEqual(lines, [historyEventToJson(invoke), historyEventToJson(ok)]);
  assert.ok(lines.every((line) => !line.includes('\n')));
});

test('blank lines and CRLF line ends are accepted', () => {
  const input = `\r\n${historyEventToJson(invoke)}\r\n\n${historyEventToJson(ok)}\r\n`;
  assert.deepEqual(parseHistoryJsonLines(input), [invoke, ok]);
});

test('a line that is not JSON is rejected with its line number', () => {
  const error = parseError(`${historyEventToJson(invoke)}\n{"process":3,`);
  assert.equal(error.line, 2);
  assert.equal(error.code, 'history_parse');
  assert.match(error.message, /^history line 2: not valid JSON/);
});

test('a line that breaks the event format is rejected naming what is wrong', () => {
  const line = (patch: Record<string, unknown>): string => JSON.stringify({ ...invoke, ...patch });
  const cases: readonly [string, RegExp][] = [
    ['[1,2]', /expected a JSON object/],
    [JSON.stringify({ ...invoke, index: 4 }), /unexpected field "index"/],
    [JSON.stringify({ process: 3, type: 'invoke', op: 'cas', key: 'k7', value: ['a', 'b'] }), /missing field "time"/],
    [line({ process: -1 }), /"process" must be a non-negative integer, got -1/],
    [line({ process: 1.5 }), /"process" must be a non-negative integer/],
    [line({ type: 'done' }), /"type" must be one of invoke, ok, fail, info, got "done"/],
    [line({ op: 'incr' }), /"op" must be one of put, get, delete, cas, got "incr"/],
    [line({ key: '' }), /"key" must be a non-empty string/],
    [line({ time: -5 }), /"time" must be a non-negative number/],
    [line({ op: 'put', value: 7 }), /"value" of a put invoke must be the string written, got 7/],
    [line({ op: 'get', value: 'x' }), /"value" of a get invoke must be null, got "x"/],
    [line({ op: 'get', type: 'ok', value: 1 }), /"value" of a get ok must be the string read or null/],
    [line({ op: 'delete', value: 'x' }), /"value" of a delete invoke must be null/],
    [line({ value: ['a'] }), /"value" of a cas invoke must be \[expected/],
    [line({ value: ['a', null] }), /"value" of a cas invoke must be \[expected/],
  ];
  for (const [bad, problem] of cases) {
    const error = parseError(`${historyEventToJson(invoke)}\n\n${bad}\n`);
    assert.equal(error.line, 3, bad);
    assert.match(error.problem, problem, bad);
  }
});

test('a time that goes backwards is rejected', () => {
  const error = parseError(`${historyEventToJson(ok)}\n${historyEventToJson(invoke)}\n`);
  assert.equal(error.line, 2);
  assert.match(error.problem, /time 1523000 is before the previous event's time 1531000/);
});
