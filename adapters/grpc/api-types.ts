// The contract of the client API (service warren.api.v1.Cluster, api-service.ts): the request and
// response objects of every method, as they travel in JSON. Shared by the server (api-server.ts),
// which parses requests strictly (api-requests.ts), and the client (api-client.ts).
// Conventions: objects are named by `id`, which also accepts the object's name (nodes, services,
// secrets, volumes; tasks have no name); every response says which manager served it and up to
// which Raft index its store had applied (`servedBy`, `appliedIndex`); a read may ask to be served
// by the leader (`leaderOnly`); lists are bounded (`limit`) and say how many matched (`total`).
// Secrets are write-only: their value goes in, and only metadata ever comes out.

import type {
  ClusterNode, DesiredTaskState, NodeAvailability, NodeId, NodeRole, NodeStatus, Service, ServiceSpec, StateCommandType, Task, Volume,
} from '../../core/state/index.ts';

/** Which manager answered, and the last Raft index applied to its store when it did. */
export interface Served {
  readonly servedBy: NodeId;
  readonly appliedIndex: number;
}

export interface ReadOptions {
  /**
   * Serve from the leader's store: relayed when sent to a follower, so a read never lags behind a
   * write the leader acknowledged. Not a ReadIndex read: a leader cut off from its quorum still
   * answers until it notices, within an election timeout.
   */
  readonly leaderOnly?: boolean;
}

export interface ListOptions extends ReadOptions {
  /** At most this many items (default and maximum: the server's maxListItems). */
  readonly limit?: number;
}

export interface ManagerAddress {
  readonly id: NodeId;
  /** host:port of its client API, or null when this manager does not know it. */
  readonly apiAddress: string | null;
}

export interface ClusterInfoRequest extends ReadOptions {}
export interface ClusterInfoResponse extends Served {
  readonly clusterId: string;
  readonly leader: ManagerAddress | null;
  readonly term: number;
  readonly commitIndex: number;
  readonly managers: readonly ManagerAddress[];
  /** Managers whose removal this manager has applied since it started (and not added again). */
  readonly removedManagers: readonly string[];
}

export interface NodeListRequest extends ListOptions {
  readonly role?: NodeRole;
  readonly availability?: NodeAvailability;
  readonly status?: NodeStatus;
}
export interface NodeListResponse extends Served {
  readonly nodes: readonly ClusterNode[];
  readonly total: number;
}
export interface NodeInspectRequest extends ReadOptions {
  readonly id: string;
}
export interface NodeInspectResponse extends Served {
  readonly node: ClusterNode;
}
export interface NodeResponse extends Served {
  readonly id: NodeId;
  /** The node as this manager's store holds it after the write (null if already removed again). */
  readonly node: ClusterNode | null;
}
export interface NodeUpdateRequest {
  readonly id: string;
  /** The version read: the update is refused (FAILED_PRECONDITION) if the node changed since. */
  readonly version: number;
  readonly availability?: NodeAvailability;
  readonly labels?: Readonly<Record<string, string>>;
}
export interface NodeRemoveRequest {
  readonly id: string;
  /** Remove even while the node is ready. */
  readonly force?: boolean;
}

/** A spec for ServiceCreate: `name` and `image` are required, every other field has a default. */
export type ServiceSpecInput = Partial<ServiceSpec> & Pick<ServiceSpec, 'name' | 'image'>;

export interface ServiceCreateRequest {
  readonly spec: ServiceSpecInput;
}
export interface ServiceResponse extends Served {
  readonly id: string;
  readonly service: Service | null;
}
export interface ServiceListRequest extends ListOptions {}
export interface ServiceListResponse extends Served {
  readonly services: readonly Service[];
  readonly total: number;
}
export interface ServiceInspectRequest extends ReadOptions {
  readonly id: string;
}
export interface ServiceInspectResponse extends Served {
  readonly service: Service;
}
export interface ServiceUpdateRequest {
  readonly id: string;
  readonly version: number;
  /** Fields to change; fields left out keep their current value. */
  readonly spec: Partial<ServiceSpec>;
  /** Start an update even when the spec did not change (replaces every task). */
  readonly force?: boolean;
}
export interface ServiceRollbackRequest {
  readonly id: string;
  /** The version read; when left out, the current one (an unconditional rollback). */
  readonly version?: number;
}
export interface ServiceScaleRequest {
  readonly id: string;
  readonly replicas: number;
  /** The version read; when left out, the current one (an unconditional scale, as `docker service scale`). */
  readonly version?: number;
}
export interface ServiceRemoveRequest {
  readonly id: string;
}

export interface TaskListRequest extends ListOptions {
  /** Only tasks of this service (id or name). */
  readonly service?: string;
  /** Only tasks on this node (id or name). */
  readonly node?: string;
  readonly desiredState?: DesiredTaskState;
}
export interface TaskListResponse extends Served {
  readonly tasks: readonly Task[];
  readonly total: number;
}
export interface TaskInspectRequest extends ReadOptions {
  readonly id: string;
}
export interface TaskInspectResponse extends Served {
  readonly task: Task;
}

/** What the API shows of a secret: never its value, nor its ciphertext. */
export interface SecretMetadata {
  readonly id: string;
  readonly name: string;
  readonly version: number;
  /** A keyed digest of the value (HMAC-SHA256 under a key derived from the cluster key). */
  readonly digest: string;
  readonly createdAtUs: number;
}
export interface SecretCreateRequest {
  readonly name: string;
  /** The value as UTF-8 text; give exactly one of value and valueBase64. */
  readonly value?: string;
  /** The value as base64 bytes (binary secrets). */
  readonly valueBase64?: string;
}
export interface SecretResponse extends Served {
  readonly id: string;
  readonly secret: SecretMetadata | null;
}
export interface SecretListRequest extends ListOptions {}
export interface SecretListResponse extends Served {
  readonly secrets: readonly SecretMetadata[];
  readonly total: number;
}
export interface SecretInspectRequest extends ReadOptions {
  readonly id: string;
}
export interface SecretInspectResponse extends Served {
  readonly secret: SecretMetadata;
}
export interface SecretRemoveRequest {
  readonly id: string;
}

export interface VolumeCreateRequest {
  readonly name: string;
  /** The node (id or name) that holds its data; left out or null: placed with its first task. */
  readonly node?: string | null;
}
export interface VolumeResponse extends Served {
  readonly id: string;
  readonly volume: Volume | null;
}
export interface VolumeListRequest extends ListOptions {}
export interface VolumeListResponse extends Served {
  readonly volumes: readonly Volume[];
  readonly total: number;
}
export interface VolumeInspectRequest extends ReadOptions {
  readonly id: string;
}
export interface VolumeInspectResponse extends Served {
  readonly volume: Volume;
}
export interface VolumeRemoveRequest {
  readonly id: string;
}

/** The answer to a remove: the id of what was removed. */
export interface RemoveResponse extends Served {
  readonly id: string;
}

export interface EventsRequest {
  /** Only these command types (all when left out). */
  readonly types?: readonly StateCommandType[];
}

/** One command applied to the serving manager's store that changed it. */
export interface ApiEvent {
  /** Its Raft index: events arrive in increasing index order. */
  readonly index: number;
  readonly type: StateCommandType;
  /** The ids it names (a batch names each item), at most the server's maxEventIds. */
  readonly ids: readonly string[];
  /** Ids left out beyond maxEventIds. */
  readonly idsOmitted: number;
  /** The time the proposer stamped on the command (microseconds since the epoch). */
  readonly atUs: number;
}

/** Every unary method with its request and response. */
export interface ApiUnaryCalls {
  ClusterInfo: [ClusterInfoRequest, ClusterInfoResponse];
  NodeList: [NodeListRequest, NodeListResponse];
  NodeInspect: [NodeInspectRequest, NodeInspectResponse];
  NodeUpdate: [NodeUpdateRequest, NodeResponse];
  NodeRemove: [NodeRemoveRequest, RemoveResponse];
  ServiceCreate: [ServiceCreateRequest, ServiceResponse];
  ServiceList: [ServiceListRequest, ServiceListResponse];
  ServiceInspect: [ServiceInspectRequest, ServiceInspectResponse];
  ServiceUpdate: [ServiceUpdateRequest, ServiceResponse];
  ServiceRollback: [ServiceRollbackRequest, ServiceResponse];
  ServiceScale: [ServiceScaleRequest, ServiceResponse];
  ServiceRemove: [ServiceRemoveRequest, RemoveResponse];
  TaskList: [TaskListRequest, TaskListResponse];
  TaskInspect: [TaskInspectRequest, TaskInspectResponse];
  SecretCreate: [SecretCreateRequest, SecretResponse];
  SecretList: [SecretListRequest, SecretListResponse];
  SecretInspect: [SecretInspectRequest, SecretInspectResponse];
  SecretRemove: [SecretRemoveRequest, RemoveResponse];
  VolumeCreate: [VolumeCreateRequest, VolumeResponse];
  VolumeList: [VolumeListRequest, VolumeListResponse];
  VolumeInspect: [VolumeInspectRequest, VolumeInspectResponse];
  VolumeRemove: [VolumeRemoveRequest, RemoveResponse];
  ManagerJoin: [ManagerJoinRequest, ManagerJoinResponse];
  ManagerRemove: [ManagerRemoveRequest, ManagerRemoveResponse];
}

/**
 * A new manager asks to join: it becomes a learner (a non-voting replica) at once and a voter once
 * it has caught up. `proof` shows it holds the cluster key (api-secrets.ts joinProof).
 */
export interface ManagerJoinRequest {
  readonly id: string;
  /** host:port the other managers, workers and clients reach it at. */
  readonly address: string;
  readonly proof: string;
}

export interface ManagerJoinResponse extends Served {
  readonly clusterId: string;
  /** Every manager, the new one included, with its address. */
  readonly managers: readonly ManagerAddress[];
}

/**
 * Removes a manager from the cluster's members (a dead one being replaced, or one retired). Refused
 * when the voters left would not have a reachable majority, or none would be left. A running
 * manager that is removed stops, and its data directory cannot be started again.
 */
export interface ManagerRemoveRequest {
  readonly id: string;
}

export interface ManagerRemoveResponse extends Served {
  /** Every manager left, with its address. */
  readonly managers: readonly ManagerAddress[];
}

export type UnaryMethod = keyof ApiUnaryCalls;
export type ApiRequest<M extends UnaryMethod> = ApiUnaryCalls[M][0];
export type ApiResponse<M extends UnaryMethod> = ApiUnaryCalls[M][1];
