// Linearizable reads with ReadIndex (thesis §6.4): the leader records its commit index, confirms it
// is still leader with a heartbeat round acknowledged by a quorum, and only then answers; the reader
// waits until its state machine has applied that index. Requests are answered in arrival order; an
// acknowledgement of a later request confirms every earlier one. Bounded by maxPendingReads.

import type { Raft } from './raft.ts';
import type { NodeId } from './types.ts';

export interface PendingRead {
  readonly context: string;
  readonly from: NodeId;
  readonly index: number;
  readonly acks: Set<NodeId>;
}

export class ReadOnly {
  private pending: PendingRead[] = [];
  /** Requests that arrived before the leader committed an entry of its term. */
  private waiting: { context: string; from: NodeId }[] = [];
  /** Contexts of the local node's reads that were refused; the shell fails them. */
  rejected: string[] = [];

  constructor(private readonly maxPending: number) {}

  /** Every request still waiting (confirmation or commit), oldest first; none remain after. */
  drain(): { context: string; from: NodeId }[] {
    const out = [...this.waiting, ...this.pending].map(({ context, from }) => ({ context, from }));
    this.pending = [];
    this.waiting = [];
    return out;
  }

  add(context: string, from: NodeId, index: number, self: NodeId): boolean {
    if (this.pending.length >= this.maxPending) return false;
    this.pending.push({ context, from, index, acks: new Set([self]) });
    return true;
  }

  waitForCommit(context: string, from: NodeId): boolean {
    if (this.waiting.length >= this.maxPending) return false;
    this.waiting.push({ context, from });
    return true;
  }

  takeWaitingForCommit(): { context: string; from: NodeId }[] {
    const out = this.waiting;
    this.waiting = [];
    return out;
  }

  lastContext(): string | null {
    return this.pending.length > 0 ? this.pending[this.pending.length - 1]!.context : null;
  }

  /** Record an ack; returns the requests (in order) now confirmed by a quorum. */
  acknowledge(context: string, from: NodeId, quorum: (acks: ReadonlySet<NodeId>) => boolean): PendingRead[] {
    const at = this.pending.findIndex((p) => p.context === context);
    if (at < 0) return [];
    const req = this.pending[at]!;
    req.acks.add(from);
    if (!quorum(req.acks)) return [];
    return this.pending.splice(0, at + 1);
  }
}

export function respondRead(r: Raft, context: string, from: NodeId, index: number): void {
  if (from === r.id) r.readStates.push({ context, index });
  else r.send({ type: 'read-index-resp', from: r.id, to: from, term: r.term, context, index, reject: false });
}
