// The commands of the cluster store: everything the controllers (scheduler, reconciler, agents) and
// the API can change, as one discriminated union on `type`, carried as JSON in Raft entries.
// Ids are chosen by the proposer (the leader) and times are injected as `atUs` by it: apply never
// generates an id nor reads a clock, so every replica computes the same state from the same log.
// Updates of user-facing objects name the `version` they read (optimistic concurrency).

import type { StateError } from './errors.ts';
import type {
  CertificateId, CommandShutdownCause, IngressId, IngressRule, NodeAvailability, NodeId, NodeRole, NodeStatus, Resources,
  SecretId, ServiceId, ServiceSpec, TaskId, TaskState, UpdateState, VolumeId,
} from './types.ts';

export type NodeCommand =
  | {
      readonly type: 'node-register';
      readonly id: NodeId;
      readonly name: string;
      readonly role: NodeRole;
      readonly resources: Resources;
      readonly labels: Readonly<Record<string, string>>;
      readonly address: string;
      readonly atUs: number;
    }
  /** Operator changes; fields left out keep their value. */
  | {
      readonly type: 'node-update';
      readonly id: NodeId;
      readonly version: number;
      readonly availability?: NodeAvailability;
      readonly labels?: Readonly<Record<string, string>>;
      readonly atUs: number;
    }
  /** A heartbeat marks the node ready (it is alive) and records when it was heard from. */
  | { readonly type: 'node-heartbeat'; readonly id: NodeId; readonly atUs: number }
  /** The leader's reconciler: down/unknown when heartbeats stop. */
  | { readonly type: 'node-set-status'; readonly id: NodeId; readonly status: NodeStatus; readonly atUs: number }
  /** Refused while the node is ready unless `force`; its live tasks become orphaned. */
  | { readonly type: 'node-remove'; readonly id: NodeId; readonly force: boolean; readonly atUs: number };

export type ServiceCommand =
  | { readonly type: 'service-create'; readonly id: ServiceId; readonly spec: ServiceSpec; readonly atUs: number }
  /**
   * A new spec. When anything but the replica count changes (or `force`), specVersion increments,
   * the old spec is kept for rollback and, if the service has live tasks, an update starts.
   */
  | {
      readonly type: 'service-update';
      readonly id: ServiceId;
      readonly version: number;
      readonly spec: ServiceSpec;
      readonly force?: boolean;
      readonly atUs: number;
    }
  /** Back to the previous spec (manual, or the reconciler's failure action). */
  | { readonly type: 'service-rollback'; readonly id: ServiceId; readonly version: number; readonly message?: string; readonly atUs: number }
  /** The reconciler's progress on the update of spec `specVersion` (refused once the spec changed). */
  | {
      readonly type: 'service-set-update-status';
      readonly id: ServiceId;
      readonly specVersion: number;
      readonly state: UpdateState;
      readonly message: string;
      readonly atUs: number;
    }
  /** Removes the service; its live tasks are asked to shut down and stay until removed. */
  | { readonly type: 'service-remove'; readonly id: ServiceId; readonly atUs: number };

export interface NewTask {
  readonly id: TaskId;
  readonly serviceId: ServiceId;
  /** Replicated services: 1..replicas; global: null. */
  readonly slot: number | null;
  /** Global services: the node the task is for; replicated: null (the scheduler assigns). */
  readonly nodeId: NodeId | null;
  /** Must be the service's current spec version. */
  readonly specVersion: number;
  /** Restarts of this slot (or node) so far; 0 when left out. */
  readonly restartCount?: number;
}

export interface TaskAssignment {
  readonly taskId: TaskId;
  readonly nodeId: NodeId;
}

export interface PendingReason {
  readonly taskId: TaskId;
  readonly message: string;
}

/** Shutting a task down says why (kept on the task); `running` changes nothing (a task never comes back). */
export type DesiredChange =
  | { readonly taskId: TaskId; readonly desiredState: 'running' }
  | { readonly taskId: TaskId; readonly desiredState: 'shutdown'; readonly cause: CommandShutdownCause };

/** Batch commands are atomic: one invalid item refuses the whole batch (the error names its index). */
export type TaskCommand =
  | { readonly type: 'task-create'; readonly tasks: readonly NewTask[]; readonly atUs: number }
  | { readonly type: 'task-assign'; readonly assignments: readonly TaskAssignment[]; readonly atUs: number }
  | { readonly type: 'task-set-pending-reason'; readonly reasons: readonly PendingReason[]; readonly atUs: number }
  | { readonly type: 'task-set-desired'; readonly changes: readonly DesiredChange[]; readonly atUs: number }
  /** From an agent (or the reconciler, for orphaned). A stale or out-of-order report is ignored. */
  | {
      readonly type: 'task-report';
      readonly taskId: TaskId;
      readonly state: TaskState;
      readonly exitCode: number | null;
      readonly message: string;
      readonly atUs: number;
    }
  /** Compaction of history: terminal tasks only. */
  | { readonly type: 'task-remove'; readonly taskIds: readonly TaskId[]; readonly atUs: number };

export type ObjectCommand =
  | { readonly type: 'secret-create'; readonly id: SecretId; readonly name: string; readonly ciphertext: string; readonly digest: string; readonly atUs: number }
  | { readonly type: 'secret-remove'; readonly id: SecretId; readonly atUs: number }
  | { readonly type: 'volume-create'; readonly id: VolumeId; readonly name: string; readonly driver: 'local'; readonly nodeId: NodeId | null; readonly atUs: number }
  | { readonly type: 'volume-set-node'; readonly id: VolumeId; readonly version: number; readonly nodeId: NodeId | null; readonly atUs: number }
  | { readonly type: 'volume-remove'; readonly id: VolumeId; readonly atUs: number }
  | {
      readonly type: 'ingress-create';
      readonly id: IngressId;
      readonly name: string;
      readonly rules: readonly IngressRule[];
      readonly certificate: string | null;
      readonly atUs: number;
    }
  | {
      readonly type: 'ingress-update';
      readonly id: IngressId;
      readonly version: number;
      readonly rules: readonly IngressRule[];
      readonly certificate: string | null;
      readonly atUs: number;
    }
  | { readonly type: 'ingress-remove'; readonly id: IngressId; readonly atUs: number }
  | {
      readonly type: 'certificate-create';
      readonly id: CertificateId;
      readonly name: string;
      readonly domains: readonly string[];
      readonly source: 'acme' | 'manual';
      readonly ciphertext: string;
      readonly notAfterUs: number | null;
      readonly atUs: number;
    }
  | {
      readonly type: 'certificate-update';
      readonly id: CertificateId;
      readonly version: number;
      readonly domains: readonly string[];
      readonly ciphertext: string;
      readonly notAfterUs: number | null;
      readonly atUs: number;
    }
  | { readonly type: 'certificate-remove'; readonly id: CertificateId; readonly atUs: number };

export type StateCommand = NodeCommand | ServiceCommand | TaskCommand | ObjectCommand;
export type StateCommandType = StateCommand['type'];

/** The group of each command type: which part of the store validates and applies it. */
const commandGroups = {
  'node-register': 'node', 'node-update': 'node', 'node-heartbeat': 'node', 'node-set-status': 'node', 'node-remove': 'node',
  'service-create': 'service', 'service-update': 'service', 'service-rollback': 'service', 'service-set-update-status': 'service', 'service-remove': 'service',
  'task-create': 'task', 'task-assign': 'task', 'task-set-pending-reason': 'task', 'task-set-desired': 'task', 'task-report': 'task', 'task-remove': 'task',
  'secret-create': 'object', 'secret-remove': 'object', 'volume-create': 'object', 'volume-set-node': 'object', 'volume-remove': 'object',
  'ingress-create': 'object', 'ingress-update': 'object', 'ingress-remove': 'object',
  'certificate-create': 'object', 'certificate-update': 'object', 'certificate-remove': 'object',
} as const satisfies Record<StateCommandType, 'node' | 'service' | 'task' | 'object'>;

// Compile-time proof that each command type is in the group its union says.
type GroupOf<G extends string> = { [K in keyof typeof commandGroups]: (typeof commandGroups)[K] extends G ? K : never }[keyof typeof commandGroups];
const groupsMatchUnions: [GroupOf<'node'>, GroupOf<'service'>, GroupOf<'task'>, GroupOf<'object'>] extends
  [NodeCommand['type'], ServiceCommand['type'], TaskCommand['type'], ObjectCommand['type']] ? true : never = true;
void groupsMatchUnions;

export const stateCommandTypes: readonly StateCommandType[] = Object.keys(commandGroups) as StateCommandType[];

export const isNodeCommand = (c: StateCommand): c is NodeCommand => commandGroups[c.type] === 'node';
export const isServiceCommand = (c: StateCommand): c is ServiceCommand => commandGroups[c.type] === 'service';
export const isTaskCommand = (c: StateCommand): c is TaskCommand => commandGroups[c.type] === 'task';

/** What applying a command did: `changed` is false for no-ops (a stale report, an unchanged field). */
export type ApplyResult =
  | { readonly ok: true; readonly changed: boolean }
  | { readonly ok: false; readonly error: StateError };
