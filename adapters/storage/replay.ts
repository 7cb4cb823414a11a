// Rebuilding the log from the records that survive in the segments, applied in write order with the
// same meaning MemoryStorage gives them: a snapshot mark drops every entry (the log restarts after
// the snapshot), entries at an index already present replace it and everything after it (Raft's
// truncation of a conflicting suffix), the last hard state written wins.
// Segments before the first kept one were removed by compaction, so the log may start anywhere; the
// newest snapshot file then decides what is kept: entries after its index, provided the entry at its
// index has the snapshot's term (or is unknown, compacted away). A different term means the snapshot
// replaced a log it did not match and the process died before the WAL said so: the suffix goes.
// In that case, and when the log ends before the snapshot, the WAL itself does not lead to the
// snapshot: the storage must write a snapshot mark before anything else, or the next recovery would
// find new entries after a gap, or cut them again with the old suffix.

import type { Entry } from '../../core/raft/index.ts';
import { StorageError } from './errors.ts';

export interface Anchor {
  readonly index: number;
  readonly term: number;
}

export class LogReplay {
  /** entries[i] has index base + i. */
  private entries: Entry[] = [];
  private base = 0;
  /** The last snapshot mark seen: the log restarted right after it. */
  private anchor: Anchor | null = null;

  lastIndex(): number | null {
    if (this.entries.length > 0) return this.base + this.entries.length - 1;
    return this.anchor ? this.anchor.index : null;
  }

  markSnapshot(anchor: Anchor): void {
    this.anchor = anchor;
    this.entries = [];
    this.base = anchor.index + 1;
  }

  /** Applies contiguous entries; `where` names the record for error messages. */
  append(list: readonly Entry[], where: string): void {
    let from = 0;
    if (this.anchor) while (from < list.length && list[from]!.index <= this.anchor.index) from++;
    if (from >= list.length) return;
    const first = list[from]!.index;
    const last = this.lastIndex();
    if (last === null || first < this.base) {
      // Nothing known before `first` (compacted away, or being rewritten from below what survived).
      this.base = first;
      this.entries = list.slice(from);
      return;
    }
    if (first > last + 1) {
      throw new StorageError('corrupt', `${where}: entries start at ${first}, leaving a gap after ${last}`);
    }
    this.entries.length = first - this.base;
    for (let i = from; i < list.length; i++) this.entries.push(list[i]!);
  }

  private termAt(index: number): number | undefined {
    if (this.anchor && this.anchor.index === index) return this.anchor.term;
    if (this.entries.length > 0 && index >= this.base && index < this.base + this.entries.length) return this.entries[index - this.base]!.term;
    return undefined;
  }

  /**
   * The entries after the snapshot (index, term), contiguous from index + 1. `dropped` counts the
   * entries discarded because they did not follow the snapshot; `needsMark` tells that the WAL must
   * record the snapshot before more entries are appended.
   */
  finish(snapshot: Anchor): { entries: Entry[]; dropped: number; needsMark: boolean } {
    if (this.anchor && this.anchor.index > snapshot.index) {
      throw new StorageError('corrupt', `the WAL records a snapshot installed at index ${this.anchor.index}, but the newest snapshot file is at ${snapshot.index}`);
    }
    const kept = this.entries.filter((entry) => entry.index > snapshot.index);
    const term = snapshot.index === 0 ? 0 : this.termAt(snapshot.index);
    if (term !== undefined && term !== snapshot.term) return { entries: [], dropped: kept.length, needsMark: true };
    const last = this.lastIndex();
    const endsBefore = term === undefined && last !== null && last < snapshot.index;
    if (kept.length > 0 && kept[0]!.index !== snapshot.index + 1) {
      throw new StorageError('corrupt', `the log after the snapshot at ${snapshot.index} starts at ${kept[0]!.index}: entries ${snapshot.index + 1}..${kept[0]!.index - 1} are missing`);
    }
    return { entries: kept, dropped: 0, needsMark: endsBefore };
  }
}
