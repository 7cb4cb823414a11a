// The node's view of its log: stable storage (read-only to the core) followed by the unstable tail.
// Invariants: applied <= committed <= lastIndex(); committed never decreases within a process life.

import { assert } from '../assert.ts';
import { CompactedError, limitSize, type Storage } from './storage.ts';
import { Unstable } from './log-unstable.ts';
import type { Entry, Snapshot } from './types.ts';

export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  applied: number;
  /** The last entry handed out for applying (>= applied): the next Ready's committed entries follow it. */
  applying: number;
  /** Called when entries from `index` on are replaced before they may have been persisted. */
  onTruncate: ((index: number) => void) | null = null;

  constructor(readonly storage: Storage) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.applying = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** The last index the shell has made durable. */
  stableLastIndex(): number {
    return Math.min(this.unstable.offset - 1, this.lastIndex());
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** The term at index, or undefined when unknown (compacted or beyond the end). */
  term(index: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (index < dummy || index > this.lastIndex()) return undefined;
    const t = this.unstable.maybeTerm(index);
    if (t !== undefined) return t;
    try {
      return this.storage.term(index);
    } catch (e) {
      if (e instanceof CompactedError) return undefined;
      throw e;
    }
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Append a leader's entries after (prevIndex, prevTerm). Returns the new last matching index, or
   * undefined when the logs do not match at prevIndex. Conflicting suffixes are truncated.
   */
  maybeAppend(prevIndex: number, prevTerm: number, committed: number, entries: readonly Entry[], keepConflicts: boolean): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, () => `entry ${conflict} conflicts with committed ${this.committed}`);
      const from = conflict - (prevIndex + 1);
      if (keepConflicts) {
        // Planted bug: keep our own entries where they conflict, only append past our end.
        const tail = entries.slice(from).filter((e) => e.index > this.lastIndex());
        if (tail.length > 0) this.append(tail);
      } else {
        this.append(entries.slice(from));
      }
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** The first index where `entries` disagree with our log (or extend it); 0 when all match. */
  private findConflict(entries: readonly Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index <= `index` whose term is <= `term` (etcd's
   * findConflictByTerm), so a leader can skip a whole term of mismatching entries at once.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = Math.min(index, this.lastIndex()); i >= 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0]!.index - 1;
    assert(after >= this.committed, () => `append after ${after} would overwrite committed ${this.committed}`);
    if (after < this.lastIndex() && this.onTruncate) this.onTruncate(after + 1);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), () => `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    assert(index <= this.committed && index >= this.applied, () => `applied ${index} outside [${this.applied}, ${this.committed}]`);
    this.applied = index;
    this.applying = Math.max(this.applying, index);
  }

  /** Committed entries up to index were handed out for applying. */
  applyingTo(index: number): void {
    this.applying = Math.max(this.applying, index);
  }

  /** Entries in [lo, hi), limited to maxBytes (at least one). */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    assert(lo >= this.firstIndex(), () => `slice from ${lo} is compacted (first ${this.firstIndex()})`);
    assert(hi <= this.lastIndex() + 1, () => `slice to ${hi} beyond last ${this.lastIndex()}`);
    const u = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < u) out = this.storage.entries(lo, Math.min(hi, u), maxBytes);
    if (hi > u && (out.length === 0 || out[out.length - 1]!.index === Math.min(hi, u) - 1)) {
      out = out.concat(this.unstable.slice(Math.max(lo, u), hi));
    }
    return limitSize(out, maxBytes);
  }

  /** Entries after `index` up to the end, or undefined when they are compacted. */
  entriesFrom(index: number, maxBytes: number): Entry[] | undefined {
    if (index < this.firstIndex()) return undefined;
    return this.slice(index, this.lastIndex() + 1, maxBytes);
  }

  /** The entries the shell must make durable. */
  unstableEntries(): Entry[] {
    return this.unstable.entries;
  }

  /** Committed entries that are durable locally and not yet handed out for applying. */
  nextCommitted(maxBytes: number, stableOnly: boolean): Entry[] {
    const lo = Math.max(this.applying + 1, this.firstIndex());
    const hi = (stableOnly ? Math.min(this.committed, this.unstable.offset - 1) : this.committed) + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, maxBytes);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Install a snapshot; `applied` moves when the shell has installed it too (advance). */
  restore(snap: Snapshot): void {
    if (this.onTruncate) this.onTruncate(this.committed + 1);
    this.unstable.restore(snap);
    this.committed = snap.meta.index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }
}
