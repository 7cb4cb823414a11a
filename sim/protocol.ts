// What crosses the simulated world besides Raft messages: client requests and replies for the
// key-value workload, the records the node writes to its disk, and the observer the chaos checkers
// implement to watch every node (sim must not import chaos, so the interface lives here).

import type { Entry, HardState, Message, NodeId, Snapshot, ConfState } from '../core/raft/index.ts';

export type ClientOp = 'put' | 'get' | 'delete' | 'cas';

export interface ClientRequest {
  readonly id: number;
  readonly client: number;
  readonly op: ClientOp;
  readonly key: string;
  readonly value: string | null;
  readonly expected: string | null;
  /** When the client gives up (a propagated deadline, as with gRPC): the server may forget it then. */
  readonly deadlineUs: number;
}

export type ClientReply =
  | { readonly id: number; readonly outcome: 'ok'; readonly value: string | null }
  /** Certainly not applied: not the leader, overloaded, overwritten, a cas mismatch, a refused read. */
  | { readonly id: number; readonly outcome: 'fail'; readonly reason: string; readonly leader: NodeId | null };

/** One durable record: what one Ready asked to persist, all or nothing. */
export type DiskRecord =
  | { readonly type: 'bootstrap'; readonly conf: ConfState }
  | { readonly type: 'ready'; readonly snapshot: Snapshot | null; readonly entries: readonly Entry[]; readonly hardState: HardState | null };

export interface SimObserver {
  /** A node's role or leader changed (after its Ready was taken). */
  onSoftState(node: NodeId, role: string, term: number, nowUs: number, log: LogView): void;
  /** A node applied a committed entry to its state machine. */
  onApply(node: NodeId, entry: Entry, nowUs: number): void;
  /** A node installed a snapshot covering entries up to index. */
  onSnapshotApplied(node: NodeId, index: number, term: number, nowUs: number): void;
  /** A node made a hard state durable (its sync completed). */
  onHardStateSynced(node: NodeId, hardState: HardState, nowUs: number): void;
  /** A node restarted with this durable hard state. */
  onRestart(node: NodeId, hardState: HardState, nowUs: number): void;
  /** A client write was acknowledged as applied at (index, term). */
  onWriteAcked(node: NodeId, index: number, term: number, nowUs: number): void;
  /** A message is leaving a node whose durable state is `durable` (persist-before-send). */
  onSend(node: NodeId, message: Message, durable: DurableView, nowUs: number): void;
  /** A leader's commit index moved to `commit` (its log as it is at that moment). */
  onLeaderCommit(node: NodeId, term: number, commit: number, log: LogView, nowUs: number): void;
}

/** What a node's disk holds right now: its synced hard state and log. */
export interface DurableView {
  readonly hardState: HardState;
  readonly lastIndex: number;
  termAt(index: number): number | undefined;
}

/** Read access to a node's log for checkers (leader completeness). */
export interface LogView {
  readonly firstIndex: number;
  readonly lastIndex: number;
  termAt(index: number): number | undefined;
}
