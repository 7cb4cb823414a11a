// The public surface of the Raft core.
export { RaftNode } from './node.ts';
export type { Ready, ProposeResult, ProposeError, NodeStatus } from './node.ts';
export { planReady } from './ready-plan.ts';
export type { ReadyPlan } from './ready-plan.ts';
export { MemoryStorage, CompactedError } from './storage.ts';
export type { Storage } from './storage.ts';
export { noBugs } from './bugs.ts';
export type { RaftBugs } from './bugs.ts';
export type { RaftConfig, RaftOptions } from './config.ts';
export { nodeId, emptyHardState, entrySizeBytes } from './types.ts';
export type { ConfChange, ConfEntryData, ConfState, Entry, HardState, Message, MessageType, NodeId, ReadState, Role, Snapshot, SnapshotMeta, SoftState } from './types.ts';
