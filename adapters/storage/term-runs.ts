// The terms of the durable log after the snapshot, kept as runs (first index, term): a Raft log has
// one run per leader term, so this stays small however long the log is. The storage uses it to check
// that a local snapshot names the term its index really has; a wrong term would make recovery treat
// the log after it as not following the snapshot, and drop it.
// Invariant: runs are sorted by first index, consecutive runs have different terms, and together
// cover [runs[0].first, lastIndex].

import type { Entry } from '../../core/raft/index.ts';

interface Run {
  readonly first: number;
  readonly term: number;
}

export class TermRuns {
  private runs: Run[] = [];
  private lastIndex = 0;

  /** The log is now just the snapshot at (index, term). */
  reset(index: number, term: number): void {
    this.runs = [{ first: index, term }];
    this.lastIndex = index;
  }

  /** Entries replace the log from their first index on (Raft truncation), as MemoryStorage does. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    while (this.runs.length > 0 && this.runs[this.runs.length - 1]!.first >= first) this.runs.pop();
    for (const entry of entries) {
      const last = this.runs[this.runs.length - 1];
      if (last === undefined || last.term !== entry.term) this.runs.push({ first: entry.index, term: entry.term });
    }
    this.lastIndex = entries[entries.length - 1]!.index;
  }

  /** The term of the entry at index, or undefined when it is outside what the runs cover. */
  termAt(index: number): number | undefined {
    if (this.runs.length === 0 || index < this.runs[0]!.first || index > this.lastIndex) return undefined;
    for (let i = this.runs.length - 1; i >= 0; i--) if (this.runs[i]!.first <= index) return this.runs[i]!.term;
    return undefined;
  }

  /** Forgets runs wholly below index (a snapshot at index was taken). */
  compact(index: number): void {
    while (this.runs.length > 1 && this.runs[1]!.first <= index) this.runs.shift();
  }
}
