// The vocabulary of the Raft core: entries, hard state, membership, snapshots and the message union.
// Everything here is plain immutable data so it can cross the simulated network or a gRPC stream
// unchanged; the shell must never mutate a value after handing it to the core or receiving it.

export type NodeId = string & { readonly __brand: 'NodeId' };
export const nodeId = (id: string): NodeId => id as NodeId;

export type EntryType = 'normal' | 'conf';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** The command: an opaque string for the state machine (JSON of a ConfChange for 'conf'). */
  readonly data: string;
}

/** The state that must be durable before any message that depends on it leaves the node. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
}

export const emptyHardState: HardState = { term: 0, vote: null, commit: 0 };

/** Voters and learners, each sorted, disjoint. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * A membership change. `context` is opaque to Raft and travels in the entry for the shell (a joining
 * manager's address, say), as etcd's ConfChange.Context does.
 */
export type ConfChange =
  | { readonly type: 'add-voter'; readonly node: NodeId; readonly context?: string }
  | { readonly type: 'add-learner'; readonly node: NodeId; readonly context?: string }
  | { readonly type: 'remove'; readonly node: NodeId; readonly context?: string };

/** What a conf entry holds: the change, and the membership it produces (so a joining node that
 * knows no configuration yet still applies the right one). */
export type ConfEntryData = ConfChange & { readonly conf: ConfState };

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The state machine's serialized state as of meta.index. */
  readonly data: string;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

export type Message =
  | (Envelope & { readonly type: 'vote' | 'pre-vote'; readonly lastIndex: number; readonly lastTerm: number; readonly transfer: boolean })
  | (Envelope & { readonly type: 'vote-resp' | 'pre-vote-resp'; readonly reject: boolean })
  | (Envelope & {
      readonly type: 'app';
      readonly prevIndex: number;
      readonly prevTerm: number;
      readonly entries: readonly Entry[];
      readonly commit: number;
    })
  | (Envelope & {
      readonly type: 'app-resp';
      /** Accepted: the last index now matching the leader. Rejected: the prevIndex that failed. */
      readonly index: number;
      readonly reject: boolean;
      /** On reject: a hint of where the logs may match (index, and the term the follower has there). */
      readonly hintIndex: number;
      readonly hintTerm: number;
    })
  | (Envelope & { readonly type: 'heartbeat'; readonly commit: number; readonly context: string | null })
  | (Envelope & { readonly type: 'heartbeat-resp'; readonly context: string | null })
  | (Envelope & {
      readonly type: 'snap';
      readonly meta: SnapshotMeta;
      readonly offset: number;
      readonly chunk: string;
      readonly done: boolean;
    })
  | (Envelope & { readonly type: 'snap-resp'; readonly snapIndex: number; readonly nextOffset: number; readonly reject: boolean })
  | (Envelope & { readonly type: 'timeout-now' })
  | (Envelope & { readonly type: 'read-index'; readonly context: string })
  | (Envelope & { readonly type: 'read-index-resp'; readonly context: string; readonly index: number; readonly reject: boolean });

export type MessageType = Message['type'];

/** A linearizable read is safe once the local state machine has applied `index`. */
export interface ReadState {
  readonly context: string;
  readonly index: number;
}

export interface SoftState {
  readonly leader: NodeId | null;
  readonly role: Role;
}

export function entrySizeBytes(entry: Entry): number {
  return entry.data.length + 24;
}
