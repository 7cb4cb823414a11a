// The search over one key's planned ops: Wing & Gong's algorithm as improved by Lowe and
// Porcupine. Call/return entries sit in doubly linked lists (dancing links), a backtracking stack
// records placements, and a cache of explored (placed set, value) configurations prunes repeats.
// Invariants:
// - 'ok' only when every required op was placed in an order the register allows; a search cut
//   short by the step budget or the deadline says so ('budget', 'deadline'), never 'ok'.
// - The search is deterministic: the clock is read only to honour the deadline, and ops are
//   numbered in call order with a fixed-seed hash.

import { performance } from 'node:perf_hooks';
import type { HistoryOp } from '../history.ts';
import { describe } from './linearizability-plan.ts';
import type { PlannedOp } from './linearizability-plan.ts';

export type KeyOutcome =
  | { readonly type: 'ok' }
  | { readonly type: 'violation'; readonly detail: string }
  | { readonly type: 'budget' }
  | { readonly type: 'deadline'; readonly steps: number };

export interface Budget {
  readonly maxSteps: number;
  readonly deadline: number;
}

/** Searches for a linearization of one key's planned ops within the budget. */
export function searchKey(planned: readonly PlannedOp[], budget: Budget): KeyOutcome {
  return new KeySearch(planned).run(budget);
}

const KIND_PUT = 0;
const KIND_GET = 1;
const KIND_DELETE = 2;
const KIND_CAS = 3;
const KINDS: Record<HistoryOp, number> = { put: KIND_PUT, get: KIND_GET, delete: KIND_DELETE, cas: KIND_CAS };

// Sentinels of the two lists: required call/return entries, and optional call entries.
const HEAD = 0;
const TAIL = 1;
const OPTIONAL_HEAD = 2;
const OPTIONAL_TAIL = 3;
const FIRST_ENTRY = 4;
const DEADLINE_CHECK_MASK = 1023; // read the clock once per 1024 steps
const NOT_ALLOWED = -1;

/** State ids: 0 is absent, others index `values`. */
function applyOp(kind: number, operand: number, replacement: number, state: number): number {
  switch (kind) {
    case KIND_PUT: return operand;
    case KIND_GET: return state === operand ? state : NOT_ALLOWED;
    case KIND_DELETE: return 0;
    default: return state === operand ? replacement : NOT_ALLOWED; // cas
  }
}

class KeySearch {
  private readonly ops: readonly PlannedOp[];
  private readonly values: (string | null)[] = [null];
  private readonly kinds: Uint8Array;
  private readonly operands: Int32Array;
  private readonly replacements: Int32Array;
  private readonly optional: Uint8Array;
  private readonly bitOf: Int32Array; // index among the required, or among the optional ops
  private readonly twinBefore: Int32Array; // optional op with the same effect invoked just before, or -1
  private readonly zobrist: Int32Array;
  private readonly requiredCount: number;
  private readonly requiredPlaced: Uint32Array;
  private readonly optionalPlaced: Uint32Array;
  private readonly next: Int32Array;
  private readonly previous: Int32Array;
  private readonly opOf: Int32Array;
  private readonly returnOf: Int32Array; // call entry -> its return entry, or -1
  private readonly positions: Float64Array;
  private readonly isCall: Uint8Array;
  private readonly cache = new ExploredConfigurations();
  private readonly stackEntries: Int32Array;
  private readonly stackStates: Int32Array;
  private readonly stackBlocks: Float64Array; // blocking return position when an optional op was placed
  private depth = 0;
  private state = 0;
  private hash = 0; // of the required set only: the cache compares optional sets by inclusion
  private requiredDone = 0;
  private steps = 0;
  private deepest = -1;
  private deepestReport = '';

  constructor(planned: readonly PlannedOp[]) {
    // Ops in call order, so a prefix of placed ops is a run of full words in the bitset.
    this.ops = [...planned].sort((a, b) => a.callPosition - b.callPosition);
    const count = this.ops.length;
    this.kinds = new Uint8Array(count);
    this.operands = new Int32Array(count);
    this.replacements = new Int32Array(count);
    this.optional = new Uint8Array(count);
    this.bitOf = new Int32Array(count);
    this.twinBefore = new Int32Array(count).fill(-1);
    this.zobrist = new Int32Array(count);
    this.stackEntries = new Int32Array(count);
    this.stackStates = new Int32Array(count);
    this.stackBlocks = new Float64Array(count);
    this.requiredCount = this.encodeOps();
    this.requiredPlaced = new Uint32Array(Math.ceil(this.requiredCount / 32));
    this.optionalPlaced = new Uint32Array(Math.ceil((count - this.requiredCount) / 32));
    const entryCount = FIRST_ENTRY + count + this.requiredCount;
    this.next = new Int32Array(entryCount);
    this.previous = new Int32Array(entryCount);
    this.opOf = new Int32Array(entryCount).fill(-1);
    this.returnOf = new Int32Array(entryCount).fill(-1);
    this.positions = new Float64Array(entryCount);
    this.isCall = new Uint8Array(entryCount);
    this.buildLists();
    this.cache.addIfNew(this.requiredPlaced, 0, 0, this.optionalPlaced);
  }

  private encodeOps(): number {
    const ids = new Map<string | null, number>([[null, 0]]);
    const idOf = (value: string | null): number => {
      if (!ids.has(value)) ids.set(value, this.values.push(value) - 1);
      return ids.get(value) as number;
    };
    const lastOfEffect = new Map<string, number>();
    let [required, optional, seed] = [0, 0, 0x2545f491];
    this.ops.forEach(({ operation: o, returnPosition }, index) => {
      this.kinds[index] = KINDS[o.op];
      const cas = o.input as readonly [string | null, string];
      if (o.op === 'put') this.operands[index] = idOf(o.input as string);
      if (o.op === 'get') this.operands[index] = idOf(o.output as string | null);
      if (o.op === 'cas') [this.operands[index], this.replacements[index]] = [idOf(cas[0]), idOf(cas[1])];
      seed = splitMix32(seed);
      this.zobrist[index] = seed;
      if (returnPosition !== Infinity) {
        this.bitOf[index] = required++;
        return;
      }
      this.optional[index] = 1;
      this.bitOf[index] = optional++;
      const effect = `${this.kinds[index]}:${this.operands[index]}:${this.replacements[index]}`;
      this.twinBefore[index] = lastOfEffect.get(effect) ?? -1;
      lastOfEffect.set(effect, index);
    });
    return required;
  }

  private buildLists(): void {
    const required: number[] = [];
    const optional: number[] = [];
    let entry = FIRST_ENTRY;
    this.ops.forEach((planned, index) => {
      const call = entry++;
      this.opOf[call] = index;
      this.isCall[call] = 1;
      this.positions[call] = planned.callPosition;
      if (this.optional[index] === 1) {
        optional.push(call);
        return;
      }
      const ret = entry++;
      this.opOf[ret] = index;
      this.positions[ret] = planned.returnPosition;
      this.returnOf[call] = ret;
      required.push(call, ret);
    });
    const byPosition = (a: number, b: number): number => this.positions[a] - this.positions[b] || a - b;
    this.link(HEAD, TAIL, required.sort(byPosition));
    this.link(OPTIONAL_HEAD, OPTIONAL_TAIL, optional.sort(byPosition));
  }

  private link(head: number, tail: number, entries: readonly number[]): void {
    const chain = [head, ...entries, tail];
    for (let i = 0; i < chain.length; i++) {
      this.next[chain[i]] = i + 1 < chain.length ? chain[i + 1] : -1;
      this.previous[chain[i]] = i > 0 ? chain[i - 1] : -1;
    }
    this.positions[head] = -Infinity;
    this.positions[tail] = Infinity;
  }

  /**
   * Depth-first search. Required calls before the first unplaced return are tried first; only
   * when that return blocks are optional (info) calls invoked before it tried, since placing an
   * info op early is rarely what the history needs. Both orders explore the same candidates.
   */
  run(budget: Budget): KeyOutcome {
    if (this.requiredCount === 0) return { type: 'ok' };
    let entry = this.next[HEAD];
    let inOptional = false;
    let block = 0; // position of the return that blocks while trying optional calls
    for (;;) {
      if (++this.steps > budget.maxSteps) return { type: 'budget' };
      if ((this.steps & DEADLINE_CHECK_MASK) === 0 && performance.now() >= budget.deadline) {
        return { type: 'deadline', steps: this.steps };
      }
      if (!inOptional && this.isCall[entry] === 1) {
        if (!this.tryPlace(entry, 0)) entry = this.next[entry];
        else if (this.requiredDone === this.requiredCount) return { type: 'ok' };
        else entry = this.next[HEAD];
      } else if (!inOptional) {
        // The first unplaced return: its op must go before anything invoked after this point.
        if (entry === TAIL) throw new Error('invariant: required ops remain but no return entry does');
        this.noteBlocked(entry);
        inOptional = true;
        block = this.positions[entry];
        entry = this.next[OPTIONAL_HEAD];
      } else if (this.positions[entry] < block) {
        const placed = !this.twinWaiting(this.opOf[entry]) && this.tryPlace(entry, block);
        inOptional = !placed;
        entry = placed ? this.next[HEAD] : this.next[entry];
      } else {
        if (this.depth === 0) return { type: 'violation', detail: this.deepestReport };
        const undone = this.undo();
        inOptional = this.optional[this.opOf[undone]] === 1;
        block = this.stackBlocks[this.depth];
        entry = this.next[undone];
      }
    }
  }

  /**
   * Optional ops with the same effect are interchangeable (each may go anywhere after its invoke,
   * and the earlier one was invoked first), so only the earliest unplaced one is tried: placed
   * members of such a group are always a prefix of it, which keeps this check to one bit.
   */
  private twinWaiting(op: number): boolean {
    const twin = this.twinBefore[op];
    return twin >= 0 && (this.optionalPlaced[this.bitOf[twin] >>> 5] & (1 << (this.bitOf[twin] & 31))) === 0;
  }

  private tryPlace(entry: number, block: number): boolean {
    const op = this.opOf[entry];
    const placedState = applyOp(this.kinds[op], this.operands[op], this.replacements[op], this.state);
    if (placedState === NOT_ALLOWED) return false;
    // An optional op that leaves the value unchanged only uses itself up: skipping it loses nothing.
    if (placedState === this.state && this.optional[op] === 1) return false;
    this.flip(op);
    if (!this.cache.addIfNew(this.requiredPlaced, this.hash, placedState, this.optionalPlaced)) {
      this.flip(op);
      return false;
    }
    this.stackEntries[this.depth] = entry;
    this.stackStates[this.depth] = this.state;
    this.stackBlocks[this.depth] = block;
    this.depth++;
    this.state = placedState;
    this.lift(entry);
    if (this.optional[op] === 0) this.requiredDone++;
    return true;
  }

  private undo(): number {
    this.depth--;
    const entry = this.stackEntries[this.depth];
    const op = this.opOf[entry];
    this.state = this.stackStates[this.depth];
    this.flip(op);
    if (this.optional[op] === 0) this.requiredDone--;
    this.unlift(entry);
    return entry;
  }

  private flip(op: number): void {
    const bit = this.bitOf[op];
    if (this.optional[op] === 1) {
      this.optionalPlaced[bit >>> 5] ^= 1 << (bit & 31);
    } else {
      this.requiredPlaced[bit >>> 5] ^= 1 << (bit & 31);
      this.hash ^= this.zobrist[op];
    }
  }

  // Dancing links: removed entries keep their own pointers, so undoing in reverse order restores.
  private lift(call: number): void {
    this.unlink(call);
    if (this.returnOf[call] >= 0) this.unlink(this.returnOf[call]);
  }

  private unlift(call: number): void {
    if (this.returnOf[call] >= 0) this.relink(this.returnOf[call]);
    this.relink(call);
  }

  private unlink(entry: number): void {
    this.next[this.previous[entry]] = this.next[entry];
    this.previous[this.next[entry]] = this.previous[entry];
  }

  private relink(entry: number): void {
    this.next[this.previous[entry]] = entry;
    this.previous[this.next[entry]] = entry;
  }

  /** Keeps the explanation for the partial linearization with the most required ops that got stuck. */
  private noteBlocked(returnEntry: number): void {
    if (this.requiredDone <= this.deepest) return;
    this.deepest = this.requiredDone;
    const recent: string[] = [];
    for (let i = Math.max(0, this.depth - 3); i < this.depth; i++) {
      recent.push(describe(this.ops[this.opOf[this.stackEntries[i]]].operation));
    }
    const stuck = describe(this.ops[this.opOf[returnEntry]].operation);
    const after = recent.length === 0 ? 'at the start' : `after ${this.depth} ops (last: ${recent.join('; ')})`;
    this.deepestReport =
      `${stuck} cannot be linearized ${after}, when the value was ${JSON.stringify(this.values[this.state])}; ` +
      `that is the furthest any order of the ${this.ops.length} ops on the key got`;
  }
}

function splitMix32(seed: number): number {
  let z = (seed + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) | 0;
}

const RECORD_INTS = 7; // required offset, low, high; optional offset, low, high; state

/**
 * Configurations (placed ops, value) already explored, which all failed or are still on the
 * stack. A new configuration is pruned when one with the same required set and value and a
 * subset of its optional ops was explored: unplaced optional ops can always stay unplaced, so
 * the explored one could do all the new one can. Sets are stored as the words between leading
 * all-ones words (required set only) and trailing all-zero words; ops are numbered in call order
 * and placed roughly in that order, so that span stays small.
 */
class ExploredConfigurations {
  private readonly buckets = new Map<number, number[]>();
  private words = new Uint32Array(1 << 12);
  private wordsUsed = 0;
  private records = new Int32Array(RECORD_INTS << 10);
  private count = 0;

  addIfNew(required: Uint32Array, requiredHash: number, state: number, optional: Uint32Array): boolean {
    let low = 0;
    while (low < required.length && required[low] === 0xffffffff) low++;
    const high = spanEnd(required, low);
    const key = (requiredHash ^ Math.imul(state + 1, 0x9e3779b1)) >>> 0;
    const bucket = this.buckets.get(key);
    if (bucket !== undefined) {
      for (const id of bucket) if (this.covers(id, required, low, high, state, optional)) return false;
    }
    let optionalLow = 0;
    while (optionalLow < optional.length && optional[optionalLow] === 0) optionalLow++;
    const base = this.count * RECORD_INTS;
    if (base + RECORD_INTS > this.records.length) this.records = grow(this.records, base + RECORD_INTS);
    this.records[base] = this.save(required, low, high);
    this.records[base + 1] = low;
    this.records[base + 2] = high;
    this.records[base + 3] = this.save(optional, optionalLow, spanEnd(optional, optionalLow));
    this.records[base + 4] = optionalLow;
    this.records[base + 5] = spanEnd(optional, optionalLow);
    this.records[base + 6] = state;
    if (bucket === undefined) this.buckets.set(key, [this.count]);
    else bucket.push(this.count);
    this.count++;
    return true;
  }

  private covers(id: number, required: Uint32Array, low: number, high: number, state: number, optional: Uint32Array): boolean {
    const r = this.records;
    const base = id * RECORD_INTS;
    if (r[base + 1] !== low || r[base + 2] !== high || r[base + 6] !== state) return false;
    for (let i = low, at = r[base]; i < high; i++, at++) if (this.words[at] !== required[i]) return false;
    const optionalHigh = r[base + 5];
    for (let i = r[base + 4], at = r[base + 3]; i < optionalHigh; i++, at++) {
      if ((this.words[at] & ~optional[i]) !== 0) return false;
    }
    return true;
  }

  private save(set: Uint32Array, low: number, high: number): number {
    const offset = this.wordsUsed;
    if (offset + high - low > this.words.length) this.words = grow(this.words, offset + high - low);
    this.words.set(set.subarray(low, high), offset);
    this.wordsUsed += high - low;
    return offset;
  }
}

function spanEnd(set: Uint32Array, low: number): number {
  let high = set.length;
  while (high > low && set[high - 1] === 0) high--;
  return high;
}

function grow<T extends Uint32Array | Int32Array>(array: T, needed: number): T {
  let length = array.length * 2;
  while (length < needed) length *= 2;
  const bigger = new (array.constructor as new (length: number) => T)(length);
  bigger.set(array);
  return bigger;
}
