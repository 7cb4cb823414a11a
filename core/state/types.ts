// The objects of the replicated cluster store: nodes, services (with versioned specs), tasks,
// secrets, volumes, ingresses and certificates. Plain immutable data: the store replaces an object
// on every change and bumps its `version`, which updates name for optimistic concurrency (an update
// names the version it read; a stale one is refused). Times are virtual/injected microseconds.

import type { NodeId } from '../raft/types.ts';

export type { NodeId };
export type ServiceId = string & { readonly __brand: 'ServiceId' };
export type TaskId = string & { readonly __brand: 'TaskId' };
export type SecretId = string & { readonly __brand: 'SecretId' };
export type VolumeId = string & { readonly __brand: 'VolumeId' };
export type IngressId = string & { readonly __brand: 'IngressId' };
export type CertificateId = string & { readonly __brand: 'CertificateId' };

/** CPU in thousandths of a core, memory in bytes. */
export interface Resources {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
}

export const noResources: Resources = { cpuMillis: 0, memoryBytes: 0 };

export type NodeRole = 'manager' | 'worker' | 'hybrid';
export type NodeAvailability = 'active' | 'pause' | 'drain';
export type NodeStatus = 'ready' | 'down' | 'unknown';

export interface ClusterNode {
  readonly id: NodeId;
  readonly name: string;
  readonly version: number;
  readonly role: NodeRole;
  readonly availability: NodeAvailability;
  readonly status: NodeStatus;
  readonly labels: Readonly<Record<string, string>>;
  /** What the node offers. */
  readonly resources: Resources;
  /** The sum of the reservations of the tasks assigned to it and not yet terminal. */
  readonly reserved: Resources;
  readonly address: string;
  readonly lastHeartbeatUs: number;
  readonly createdAtUs: number;
  readonly updatedAtUs: number;
}

export type ServiceMode = { readonly type: 'replicated'; readonly replicas: number } | { readonly type: 'global' };

export interface PlacementPreference {
  /** Spread tasks evenly over the values of this node attribute, e.g. `node.labels.zone`. */
  readonly spread: string;
}

export interface Placement {
  /** e.g. `node.labels.zone==east`, `node.role!=manager`, `node.id==n3`, `node.hostname==edge-1`. */
  readonly constraints: readonly string[];
  readonly preferences: readonly PlacementPreference[];
}

export type PortProtocol = 'tcp' | 'udp';
export type PublishMode = 'ingress' | 'host';

export interface PortConfig {
  readonly target: number;
  /** 0 = not published. */
  readonly published: number;
  readonly protocol: PortProtocol;
  readonly mode: PublishMode;
}

export interface VolumeMount {
  /** The volume's name. */
  readonly volume: string;
  readonly target: string;
  readonly readOnly: boolean;
}

export interface SecretReference {
  /** The secret's name. */
  readonly secret: string;
  /** File name under the task's secrets directory. */
  readonly target: string;
}

export type HealthCheck =
  | { readonly type: 'http'; readonly port: number; readonly path: string; readonly intervalMs: number; readonly timeoutMs: number; readonly retries: number; readonly startPeriodMs: number }
  | { readonly type: 'tcp'; readonly port: number; readonly intervalMs: number; readonly timeoutMs: number; readonly retries: number; readonly startPeriodMs: number }
  | { readonly type: 'exec'; readonly command: readonly string[]; readonly intervalMs: number; readonly timeoutMs: number; readonly retries: number; readonly startPeriodMs: number };

export type RestartCondition = 'none' | 'on-failure' | 'any';

export interface RestartPolicy {
  readonly condition: RestartCondition;
  readonly delayMs: number;
  /** 0 = unlimited. */
  readonly maxAttempts: number;
  /** Attempts are counted within this window; 0 = for ever. */
  readonly windowMs: number;
}

export type UpdateOrder = 'stop-first' | 'start-first';
export type FailureAction = 'pause' | 'continue' | 'rollback';

export interface UpdateConfig {
  /** Tasks updated at once; 0 = all at once. */
  readonly parallelism: number;
  readonly delayMs: number;
  readonly order: UpdateOrder;
  /** How long an updated task is watched for failure. */
  readonly monitorMs: number;
  /** Fraction (0..1) of updated tasks that may fail before failureAction applies. */
  readonly maxFailureRatio: number;
  readonly failureAction: FailureAction;
}

export interface ServiceSpec {
  readonly name: string;
  readonly image: string;
  readonly command: readonly string[];
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly mode: ServiceMode;
  readonly placement: Placement;
  readonly reservations: Resources;
  readonly limits: Resources;
  readonly ports: readonly PortConfig[];
  readonly mounts: readonly VolumeMount[];
  readonly secrets: readonly SecretReference[];
  readonly healthCheck: HealthCheck | null;
  readonly restartPolicy: RestartPolicy;
  readonly update: UpdateConfig;
  readonly rollback: UpdateConfig;
  readonly stopGracePeriodMs: number;
}

export type UpdateState = 'updating' | 'paused' | 'completed' | 'rolling-back' | 'rolled-back';

export interface UpdateStatus {
  readonly state: UpdateState;
  readonly startedAtUs: number;
  readonly completedAtUs: number | null;
  readonly message: string;
}

export interface Service {
  readonly id: ServiceId;
  readonly version: number;
  readonly spec: ServiceSpec;
  /** Increments with every spec change; tasks record the one they run. */
  readonly specVersion: number;
  readonly previousSpec: ServiceSpec | null;
  readonly previousSpecVersion: number | null;
  readonly updateStatus: UpdateStatus | null;
  readonly createdAtUs: number;
  readonly updatedAtUs: number;
}

export type TaskState = 'new' | 'pending' | 'assigned' | 'starting' | 'running' | 'complete' | 'failed' | 'shutdown' | 'rejected' | 'orphaned';

/** Terminal states: the task will never run again (a restart is a new task). */
export const terminalTaskStates: ReadonlySet<TaskState> = new Set(['complete', 'failed', 'shutdown', 'rejected', 'orphaned']);

/** What the managers want of a task. */
export type DesiredTaskState = 'running' | 'shutdown';

/**
 * Why the managers asked a task to shut down, kept on the task so that checkers and operators can
 * tell the slots a rolling update took down from those that scaling, draining and the rest did.
 * The reconciler gives one of `commandShutdownCauses` with every task-set-desired to shutdown:
 * - update: a rolling update or rollback replaces it by a task of the service's current spec version
 *   (stopped before its replacement starts, stop-first; or once it runs, start-first);
 * - scale-down: its slot is above the replica count;
 * - drain: its node is being drained;
 * - ineligible: a global service's node no longer satisfies the service's constraints;
 * - duplicate: its slot (or node) keeps another live task;
 * - rebalance: a rebalancing move replaces it by a task of the same spec version on a less loaded
 *   node (stopped once its replacement runs), or withdraws that replacement (it landed where it
 *   would not even out the service, or could not be placed).
 * The store sets the other two itself: service-removed (service-remove), node-removed (node-remove).
 * A task the reconciler gives up on because its node is down is orphaned (a report), not shut down.
 */
export type CommandShutdownCause = 'update' | 'scale-down' | 'drain' | 'ineligible' | 'duplicate' | 'rebalance';
export type ShutdownCause = CommandShutdownCause | 'service-removed' | 'node-removed';

export const commandShutdownCauses: readonly CommandShutdownCause[] = ['update', 'scale-down', 'drain', 'ineligible', 'duplicate', 'rebalance'];
export const shutdownCauses: readonly ShutdownCause[] = [...commandShutdownCauses, 'service-removed', 'node-removed'];

export interface Task {
  readonly id: TaskId;
  readonly version: number;
  readonly serviceId: ServiceId;
  /** Replicated services: the slot (1..replicas) it fills. Global services: null. */
  readonly slot: number | null;
  /** Assigned node; for a global service, the node it is for from creation on. */
  readonly nodeId: NodeId | null;
  readonly specVersion: number;
  readonly desiredState: DesiredTaskState;
  /** Why it was asked to shut down, and when (the command's atUs); both null while desired running. */
  readonly shutdownCause: ShutdownCause | null;
  readonly shutdownAtUs: number | null;
  readonly observedState: TaskState;
  /** Why a task is pending (unschedulable) or failed, in words an operator can act on. */
  readonly message: string;
  readonly exitCode: number | null;
  readonly restartCount: number;
  readonly createdAtUs: number;
  readonly updatedAtUs: number;
}

export interface Secret {
  readonly id: SecretId;
  readonly name: string;
  readonly version: number;
  /** Ciphertext produced by the shell with the cluster's key; never returned by the API. */
  readonly ciphertext: string;
  /** A digest of the plaintext, to tell versions apart without revealing it. */
  readonly digest: string;
  readonly createdAtUs: number;
}

export interface Volume {
  readonly id: VolumeId;
  readonly name: string;
  readonly version: number;
  readonly driver: 'local';
  /** Local volumes live on one node; tasks that mount them run there. Null until first placed. */
  readonly nodeId: NodeId | null;
  readonly createdAtUs: number;
}

export interface IngressRule {
  readonly host: string;
  readonly pathPrefix: string;
  readonly service: string;
  readonly port: number;
}

export interface Ingress {
  readonly id: IngressId;
  readonly name: string;
  readonly version: number;
  readonly rules: readonly IngressRule[];
  /** Name of the certificate for TLS, or null for plain HTTP. */
  readonly certificate: string | null;
  readonly createdAtUs: number;
}

export interface Certificate {
  readonly id: CertificateId;
  readonly name: string;
  readonly version: number;
  readonly domains: readonly string[];
  /** 'acme' certificates are obtained and renewed by the ingress; 'manual' ones are uploaded. */
  readonly source: 'acme' | 'manual';
  readonly ciphertext: string;
  readonly notAfterUs: number | null;
  readonly createdAtUs: number;
}
