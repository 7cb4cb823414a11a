// The leader's view of each peer's replication (etcd's tracker): Probe sends one append at a time
// until the follower's match is found; Replicate pipelines appends within a bounded in-flight window;
// Snapshot streams chunks of a snapshot and sends no appends. Invariant: match < next.

import { assert } from '../assert.ts';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Probe: an append is outstanding; wait for its answer or the next heartbeat response. */
  probeSent = false;
  /** Replicate: last indexes of in-flight appends, oldest first (bounded by maxInflight). */
  inflight: number[] = [];
  /** Snapshot: the index being sent, the byte offset the follower asked for next, and whether a chunk is outstanding. */
  pendingSnapshot = 0;
  snapshotOffset = 0;
  snapshotChunkSent = false;
  /** Heard from since the last CheckQuorum round. */
  recentActive = true;
  isLearner: boolean;

  constructor(next: number, isLearner: boolean, private readonly maxInflight: number) {
    this.next = next;
    this.isLearner = isLearner;
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(index: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = index;
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.inflight.length = 0;
    this.pendingSnapshot = 0;
    this.snapshotOffset = 0;
    this.snapshotChunkSent = false;
  }

  /** An append carrying entries up to `last` was sent. */
  sentEntries(last: number, count: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = last + 1;
        this.inflight.push(last);
        assert(this.inflight.length <= this.maxInflight, 'in-flight window overflow');
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** The follower acknowledged up to n. Returns false when this is stale news. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < n + 1) this.next = n + 1;
    if (this.state === 'replicate') {
      let drop = 0;
      while (drop < this.inflight.length && this.inflight[drop]! <= n) drop++;
      if (drop > 0) this.inflight.splice(0, drop);
    }
    return updated;
  }

  /** A rejection of an append at `rejected`; `hint` is where to try next. False when stale. */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflight.length >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }
}
