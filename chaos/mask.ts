// The text form of a FaultMask, as printed in a shrunk run's replay command and read back by
// `--shrink-mask SPEC`. A mask is a set of what stays on, so the text form is canonical: event
// numbers ascending without duplicates, consecutive runs written as ranges, rate names sorted.
//
//   events=1-3,7,12/rates=drop,duplicate     events 1, 2, 3, 7 and 12; the rates drop and duplicate
//   events=/rates=                           nothing of the plan stays on
//
// Invariants: formatMask only emits characters a POSIX shell passes through unquoted (letters,
// digits and `=,/_.-`), so the replay command can be pasted as it is; parseMask(formatMask(m)) is
// the canonical form of m; formatMask(parseMask(s)) === s for every canonical s. Both sections are
// required (a missing one would be ambiguous between "none" and "all"). `;` is accepted in place
// of `/` when reading, for hand-written (quoted) specs.

import type { FaultMask } from './types.ts';

/** A spec may name at most this many events, so a range like 0-999999999 cannot exhaust memory. */
export const maskEventsMax = 100_000;

const RATE_NAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/;
const EVENT_NUMBER = /^(0|[1-9][0-9]*)$/;

export class MaskParseError extends Error {
  readonly code = 'mask_parse';

  constructor(
    readonly spec: string,
    readonly problem: string,
  ) {
    super(
      `invalid shrink mask ${JSON.stringify(spec)}: ${problem}; expected ` +
        `"events=LIST/rates=LIST", e.g. "events=1-3,7/rates=drop,duplicate" (either list may be empty)`,
    );
    this.name = 'MaskParseError';
  }
}

/** The canonical form: events ascending and unique, rates sorted and unique. */
export function canonicalMask(mask: FaultMask): FaultMask {
  return {
    events: [...new Set(mask.events)].sort((a, b) => a - b),
    rates: [...new Set(mask.rates)].sort(),
  };
}

/** The mask as a shell-safe spec. Throws on an event that is not a non-negative safe integer or a rate name that could not be read back. */
export function formatMask(mask: FaultMask): string {
  for (const event of mask.events) {
    if (!Number.isSafeInteger(event) || event < 0) {
      throw new RangeError(`fault mask event ${event} is not a non-negative integer`);
    }
  }
  for (const rate of mask.rates) {
    if (!RATE_NAME.test(rate)) {
      throw new RangeError(`fault mask rate ${JSON.stringify(rate)} is not a name of letters, digits, _ . -`);
    }
  }
  const canonical = canonicalMask(mask);
  return `events=${formatRanges(canonical.events)}/rates=${canonical.rates.join(',')}`;
}

/** Parses a spec into the canonical mask. Throws MaskParseError naming what is wrong. */
export function parseMask(spec: string): FaultMask {
  const sections = spec.split(/[/;]/);
  const found = new Map<string, string>();
  for (const section of sections) {
    const equals = section.indexOf('=');
    if (equals === -1) throw new MaskParseError(spec, `section ${JSON.stringify(section)} has no "="`);
    const name = section.slice(0, equals);
    if (name !== 'events' && name !== 'rates') {
      throw new MaskParseError(spec, `unknown section ${JSON.stringify(name)} (known: events, rates)`);
    }
    if (found.has(name)) throw new MaskParseError(spec, `section "${name}" appears twice`);
    found.set(name, section.slice(equals + 1));
  }
  const eventsText = found.get('events');
  const ratesText = found.get('rates');
  if (eventsText === undefined) throw new MaskParseError(spec, 'the "events" section is missing');
  if (ratesText === undefined) throw new MaskParseError(spec, 'the "rates" section is missing');
  return canonicalMask({ events: parseEvents(spec, eventsText), rates: parseRates(spec, ratesText) });
}

function parseEvents(spec: string, text: string): number[] {
  const events: number[] = [];
  for (const item of splitList(spec, 'events', text)) {
    const dash = item.indexOf('-');
    const firstText = dash === -1 ? item : item.slice(0, dash);
    const lastText = dash === -1 ? item : item.slice(dash + 1);
    const first = parseEventNumber(spec, firstText, item);
    const last = parseEventNumber(spec, lastText, item);
    if (last < first) throw new MaskParseError(spec, `range ${item} ends before it starts`);
    if (events.length + (last - first + 1) > maskEventsMax) {
      throw new MaskParseError(spec, `more than ${maskEventsMax} events`);
    }
    for (let event = first; event <= last; event++) events.push(event);
  }
  return events;
}

function parseEventNumber(spec: string, text: string, item: string): number {
  const value = Number(text);
  if (!EVENT_NUMBER.test(text) || !Number.isSafeInteger(value)) {
    throw new MaskParseError(spec, `event ${JSON.stringify(item)} is not a number N or a range N-M`);
  }
  return value;
}

function parseRates(spec: string, text: string): string[] {
  const rates = splitList(spec, 'rates', text);
  for (const rate of rates) {
    if (!RATE_NAME.test(rate)) {
      throw new MaskParseError(spec, `rate ${JSON.stringify(rate)} is not a name of letters, digits, _ . -`);
    }
  }
  return rates;
}

/** Comma-separated items; the empty text is the empty list, an empty item is an error. */
function splitList(spec: string, section: string, text: string): string[] {
  if (text === '') return [];
  const items = text.split(',');
  if (items.some((item) => item === '')) {
    throw new MaskParseError(spec, `the "${section}" list has an empty item`);
  }
  return items;
}

/** Ascending unique numbers as `1-3,7`: runs of three or more become ranges, pairs stay as `4,5`. */
function formatRanges(sorted: readonly number[]): string {
  const parts: string[] = [];
  let start = 0;
  while (start < sorted.length) {
    let end = start;
    while (end + 1 < sorted.length && sorted[end + 1] === sorted[end] + 1) end++;
    if (end - start >= 2) parts.push(`${sorted[start]}-${sorted[end]}`);
    else for (let index = start; index <= end; index++) parts.push(String(sorted[index]));
    start = end + 1;
  }
  return parts.join(',');
}
