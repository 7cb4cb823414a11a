// The read API of the cluster store. Validation reads through it (so it can run on the leader
// before proposing and again inside apply), and so can the controllers. Every list is sorted by
// id, so answers do not depend on the order objects were created in (a restored store answers
// exactly like the original). Returned objects are immutable: the store replaces, never mutates.

import type {
  Certificate, CertificateId, ClusterNode, Ingress, IngressId, NodeId, PortProtocol, Resources, Secret, SecretId, Service,
  ServiceId, Task, TaskId, Volume, VolumeId,
} from './types.ts';

/** What an assigned, live task holds on its node, fixed when it was assigned. */
export interface TaskClaim {
  readonly resources: Resources;
  /** Host-mode published ports as `protocol/port`, e.g. `tcp/8080`, sorted. */
  readonly hostPorts: readonly string[];
  /** Names of the volumes it mounts, sorted. */
  readonly volumes: readonly string[];
}

export const hostPortKey = (protocol: PortProtocol, port: number): string => `${protocol}/${port}`;

export interface StateView {
  node(id: NodeId): ClusterNode | null;
  nodeByName(name: string): ClusterNode | null;
  nodes(): readonly ClusterNode[];

  service(id: ServiceId): Service | null;
  serviceByName(name: string): Service | null;
  services(): readonly Service[];

  task(id: TaskId): Task | null;
  tasks(): readonly Task[];
  /** Every task of the service still in the store, including terminal ones and tasks of a removed service. */
  tasksOfService(id: ServiceId): readonly Task[];
  /** Every task with this nodeId (assigned, or a global task for the node), including terminal ones. */
  tasksOnNode(id: NodeId): readonly Task[];
  /** Non-null exactly while the task is assigned to a node and not terminal. */
  claimOf(id: TaskId): TaskClaim | null;
  /** The live task holding a host-mode port on the node, or null. */
  hostPortOwner(nodeId: NodeId, protocol: PortProtocol, port: number): TaskId | null;
  /** Host-mode ports in use on the node as `protocol/port`, sorted. */
  hostPortsInUse(nodeId: NodeId): readonly string[];

  secret(id: SecretId): Secret | null;
  secretByName(name: string): Secret | null;
  secrets(): readonly Secret[];
  volume(id: VolumeId): Volume | null;
  volumeByName(name: string): Volume | null;
  volumes(): readonly Volume[];
  ingress(id: IngressId): Ingress | null;
  ingressByName(name: string): Ingress | null;
  ingresses(): readonly Ingress[];
  certificate(id: CertificateId): Certificate | null;
  certificateByName(name: string): Certificate | null;
  certificates(): readonly Certificate[];
}
