// The read-only view of stable storage the core reads through, and an in-memory implementation the
// shell writes to after it has made things durable (the simulated disk and the real WAL both feed
// one). Invariant: entries are contiguous from firstIndex() to lastIndex(); the entry just before
// firstIndex() is the snapshot's (its term is still known), everything before it is compacted.

import { assert } from '../assert.ts';
import type { ConfState, Entry, HardState, Snapshot } from './types.ts';
import { emptyHardState, entrySizeBytes } from './types.ts';

export class CompactedError extends Error {
  readonly code = 'compacted';
}

export interface Storage {
  initialState(): { hardState: HardState; conf: ConfState };
  /** Entries in [lo, hi), at least one when lo < hi, at most maxBytes beyond the first. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** The term of entry i, for firstIndex()-1 <= i <= lastIndex(); throws CompactedError below. */
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

const emptyConf: ConfState = { voters: [], learners: [] };

export class MemoryStorage implements Storage {
  private hardState: HardState = emptyHardState;
  private snap: Snapshot = { meta: { index: 0, term: 0, conf: emptyConf }, data: '' };
  /** ents[0] is a dummy carrying the snapshot's index and term. */
  private ents: Entry[] = [{ term: 0, index: 0, type: 'normal', data: '' }];

  initialState(): { hardState: HardState; conf: ConfState } {
    return { hardState: this.hardState, conf: this.snap.meta.conf };
  }

  setHardState(hardState: HardState): void {
    this.hardState = hardState;
  }

  getHardState(): HardState {
    return this.hardState;
  }

  private offset(): number {
    return this.ents[0]!.index;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  term(index: number): number {
    const offset = this.offset();
    if (index < offset) throw new CompactedError(`entry ${index} is compacted (first ${offset + 1})`);
    assert(index <= this.lastIndex(), () => `term(${index}) beyond last index ${this.lastIndex()}`);
    return this.ents[index - offset]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.offset();
    if (lo <= offset) throw new CompactedError(`entries from ${lo} are compacted (first ${offset + 1})`);
    assert(hi <= this.lastIndex() + 1, () => `entries(${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** A fresh member of the initial configuration: nothing logged yet, but the voters are known. */
  bootstrap(conf: ConfState): void {
    assert(this.lastIndex() === 0 && this.snap.meta.index === 0, 'bootstrap only an empty storage');
    this.snap = { meta: { index: 0, term: 0, conf }, data: '' };
  }

  /** Replace everything with a snapshot received from the leader (after it is durable). */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.snap.meta.index) return;
    this.snap = snap;
    this.ents = [{ term: snap.meta.term, index: snap.meta.index, type: 'normal', data: '' }];
  }

  /** Record a snapshot the local state machine took at `index` (<= lastIndex) and compact up to it. */
  createSnapshot(index: number, conf: ConfState, data: string): Snapshot {
    assert(index > this.snap.meta.index, `snapshot at ${index} is not newer than ${this.snap.meta.index}`);
    assert(index <= this.lastIndex(), `snapshot at ${index} beyond last index ${this.lastIndex()}`);
    this.snap = { meta: { index, term: this.term(index), conf }, data };
    return this.snap;
  }

  /** Drop entries before `compactIndex`, keeping compactIndex as the new dummy. */
  compact(compactIndex: number): void {
    const offset = this.offset();
    if (compactIndex <= offset) return;
    assert(compactIndex <= this.lastIndex(), `compact ${compactIndex} beyond last index ${this.lastIndex()}`);
    const dummy = this.ents[compactIndex - offset]!;
    this.ents = [{ term: dummy.term, index: dummy.index, type: 'normal', data: '' }, ...this.ents.slice(compactIndex - offset + 1)];
  }

  /** Append durable entries; an entry at an existing index replaces it and everything after it. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const offset = this.offset();
    const first = entries[0]!.index;
    let from = 0;
    if (first <= offset) {
      from = offset + 1 - first; // already compacted part
      if (from >= entries.length) return;
    }
    const start = entries[from]!.index;
    assert(start <= this.lastIndex() + 1, () => `append at ${start} leaves a gap after ${this.lastIndex()}`);
    this.ents.length = start - offset;
    for (let i = from; i < entries.length; i++) this.ents.push(entries[i]!);
  }
}

export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  if (entries.length <= 1) return entries;
  let size = entrySizeBytes(entries[0]!);
  for (let i = 1; i < entries.length; i++) {
    size += entrySizeBytes(entries[i]!);
    if (size > maxBytes) return entries.slice(0, i);
  }
  return entries;
}
