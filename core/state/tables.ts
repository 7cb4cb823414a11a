// The store's storage: one table per object kind plus the indexes reads need (by name, tasks by
// service and by node, task claims, host ports per node). Every mutation goes through a put/remove
// here, which keeps the indexes in step; in particular `putTask` is the only place a node's
// `reserved` changes, so reserved == the sum of the claims of its live assigned tasks always holds.
// Lists come out sorted by id (cached until the table changes), never in insertion order.

import { assert } from '../assert.ts';
import { addResources, sameResources, subtractResources } from './resources.ts';
import { holdsClaim, isTerminal } from './task-machine.ts';
import { hostPortKey, type StateView, type TaskClaim } from './view.ts';
import { noResources } from './types.ts';
import type {
  Certificate, CertificateId, ClusterNode, Ingress, IngressId, NodeId, PortProtocol, Secret, SecretId, Service, ServiceId, Task,
  TaskId, Volume, VolumeId,
} from './types.ts';

/** Objects by id, listed in id order. */
export class Table<Id extends string, T> {
  private readonly byId = new Map<Id, T>();
  private sortedIds: Id[] | null = null;
  private sortedValues: T[] | null = null;

  get(id: Id): T | null {
    return this.byId.get(id) ?? null;
  }

  set(id: Id, value: T): void {
    if (!this.byId.has(id)) this.sortedIds = null;
    this.byId.set(id, value);
    this.sortedValues = null;
  }

  delete(id: Id): void {
    if (!this.byId.delete(id)) return;
    this.sortedIds = null;
    this.sortedValues = null;
  }

  get size(): number {
    return this.byId.size;
  }

  ids(): readonly Id[] {
    return (this.sortedIds ??= [...this.byId.keys()].sort());
  }

  values(): readonly T[] {
    return (this.sortedValues ??= this.ids().map((id) => this.byId.get(id) as T));
  }
}

/** Sets of ids grouped by a key (tasks by service, by node), each listed in id order. */
class Groups<Key, Id extends string> {
  private readonly groups = new Map<Key, { ids: Set<Id>; sorted: Id[] | null }>();

  add(key: Key, id: Id): void {
    let group = this.groups.get(key);
    if (group === undefined) this.groups.set(key, (group = { ids: new Set(), sorted: null }));
    if (!group.ids.has(id)) group.sorted = null;
    group.ids.add(id);
  }

  remove(key: Key, id: Id): void {
    const group = this.groups.get(key);
    if (group === undefined || !group.ids.delete(id)) return;
    group.sorted = null;
    if (group.ids.size === 0) this.groups.delete(key);
  }

  ids(key: Key): readonly Id[] {
    const group = this.groups.get(key);
    if (group === undefined) return [];
    return (group.sorted ??= [...group.ids].sort());
  }
}

/** A table whose objects have unique names, with the name index. */
class NamedTable<Id extends string, T extends { readonly id: Id }> extends Table<Id, T> {
  private readonly byName = new Map<string, Id>();

  constructor(private readonly nameOf: (value: T) => string) {
    super();
  }

  byNameGet(name: string): T | null {
    const id = this.byName.get(name);
    return id === undefined ? null : this.get(id);
  }

  put(value: T): void {
    const old = this.get(value.id);
    const name = this.nameOf(value);
    if (old !== null && this.nameOf(old) !== name) this.byName.delete(this.nameOf(old));
    const holder = this.byName.get(name);
    assert(holder === undefined || holder === value.id, () => `name "${name}" is already held by ${holder}`);
    this.byName.set(name, value.id);
    this.set(value.id, value);
  }

  remove(id: Id): void {
    const old = this.get(id);
    if (old === null) return;
    this.byName.delete(this.nameOf(old));
    this.delete(id);
  }
}

const byOwnName = (value: { readonly name: string }): string => value.name;

export class Tables implements StateView {
  private readonly nodeTable = new NamedTable<NodeId, ClusterNode>(byOwnName);
  readonly serviceTable = new NamedTable<ServiceId, Service>((service) => service.spec.name);
  private readonly taskTable = new Table<TaskId, Task>();
  readonly secretTable = new NamedTable<SecretId, Secret>(byOwnName);
  readonly volumeTable = new NamedTable<VolumeId, Volume>(byOwnName);
  readonly ingressTable = new NamedTable<IngressId, Ingress>(byOwnName);
  readonly certificateTable = new NamedTable<CertificateId, Certificate>(byOwnName);
  private readonly claims = new Map<TaskId, TaskClaim>();
  private readonly tasksByService = new Groups<ServiceId, TaskId>();
  private readonly tasksByNode = new Groups<NodeId, TaskId>();
  /** node → `protocol/port` → the live task holding it. */
  private readonly hostPorts = new Map<NodeId, Map<string, TaskId>>();

  // ------------------------------------------------------------------------------- reads
  node = (id: NodeId): ClusterNode | null => this.nodeTable.get(id);
  nodeByName = (name: string): ClusterNode | null => this.nodeTable.byNameGet(name);
  nodes = (): readonly ClusterNode[] => this.nodeTable.values();
  service = (id: ServiceId): Service | null => this.serviceTable.get(id);
  serviceByName = (name: string): Service | null => this.serviceTable.byNameGet(name);
  services = (): readonly Service[] => this.serviceTable.values();
  task = (id: TaskId): Task | null => this.taskTable.get(id);
  tasks = (): readonly Task[] => this.taskTable.values();
  tasksOfService = (id: ServiceId): readonly Task[] => this.tasksByService.ids(id).map((t) => this.taskTable.get(t) as Task);
  tasksOnNode = (id: NodeId): readonly Task[] => this.tasksByNode.ids(id).map((t) => this.taskTable.get(t) as Task);
  claimOf = (id: TaskId): TaskClaim | null => this.claims.get(id) ?? null;
  hostPortOwner = (nodeId: NodeId, protocol: PortProtocol, port: number): TaskId | null =>
    this.hostPorts.get(nodeId)?.get(hostPortKey(protocol, port)) ?? null;
  hostPortsInUse = (nodeId: NodeId): readonly string[] => [...(this.hostPorts.get(nodeId)?.keys() ?? [])].sort();
  secret = (id: SecretId): Secret | null => this.secretTable.get(id);
  secretByName = (name: string): Secret | null => this.secretTable.byNameGet(name);
  secrets = (): readonly Secret[] => this.secretTable.values();
  volume = (id: VolumeId): Volume | null => this.volumeTable.get(id);
  volumeByName = (name: string): Volume | null => this.volumeTable.byNameGet(name);
  volumes = (): readonly Volume[] => this.volumeTable.values();
  ingress = (id: IngressId): Ingress | null => this.ingressTable.get(id);
  ingressByName = (name: string): Ingress | null => this.ingressTable.byNameGet(name);
  ingresses = (): readonly Ingress[] => this.ingressTable.values();
  certificate = (id: CertificateId): Certificate | null => this.certificateTable.get(id);
  certificateByName = (name: string): Certificate | null => this.certificateTable.byNameGet(name);
  certificates = (): readonly Certificate[] => this.certificateTable.values();

  // ------------------------------------------------------------------------------- writes
  /** Inserts or replaces a node; its reservation is this class's to change (see putTask). */
  putNode(node: ClusterNode): void {
    const reserved = this.nodeTable.get(node.id)?.reserved ?? noResources;
    assert(sameResources(node.reserved, reserved), () => `node ${node.id} written with reserved ${JSON.stringify(node.reserved)}, holds ${JSON.stringify(reserved)}`);
    this.nodeTable.put(node);
  }

  removeNode(id: NodeId): void {
    const node = this.nodeTable.get(id);
    assert(node !== null, `removing unknown node ${id}`);
    assert(node.reserved.cpuMillis === 0 && node.reserved.memoryBytes === 0, `removing node ${id} with reservations`);
    assert(!this.hostPorts.has(id), `removing node ${id} with host ports in use`);
    this.nodeTable.remove(id);
  }

  /**
   * Inserts or replaces a task. `claim` is required exactly when the task starts holding one (it was
   * just assigned); a claim is released when the task becomes terminal.
   */
  putTask(task: Task, claim: TaskClaim | null = null): void {
    const old = this.taskTable.get(task.id);
    const held = old !== null && this.claims.has(task.id);
    const holds = holdsClaim(task);
    assert(old === null || (old.serviceId === task.serviceId && (old.nodeId === null || old.nodeId === task.nodeId)), `task ${task.id} changed service or node`);
    assert(claim === null || (holds && !held), `claim given for task ${task.id} that is not being assigned`);
    if (holds && !held) {
      assert(claim !== null, `task ${task.id} assigned without a claim`);
      this.hold(task.id, task.nodeId as NodeId, claim);
    } else if (held && !holds) {
      this.release(task.id, (old as Task).nodeId as NodeId);
    }
    if (old?.nodeId !== task.nodeId && task.nodeId !== null) this.tasksByNode.add(task.nodeId, task.id);
    this.tasksByService.add(task.serviceId, task.id);
    this.taskTable.set(task.id, task);
  }

  removeTask(id: TaskId): void {
    const task = this.taskTable.get(id);
    assert(task !== null && isTerminal(task.observedState) && !this.claims.has(id), `removing task ${id} that is not terminal`);
    this.tasksByService.remove(task.serviceId, id);
    if (task.nodeId !== null) this.tasksByNode.remove(task.nodeId, id);
    this.taskTable.delete(id);
  }

  private hold(taskId: TaskId, nodeId: NodeId, claim: TaskClaim): void {
    const node = this.nodeTable.get(nodeId);
    assert(node !== null, `task ${taskId} assigned to unknown node ${nodeId}`);
    this.nodeTable.put({ ...node, reserved: addResources(node.reserved, claim.resources) });
    let ports = this.hostPorts.get(nodeId);
    if (ports === undefined && claim.hostPorts.length > 0) this.hostPorts.set(nodeId, (ports = new Map()));
    for (const key of claim.hostPorts) {
      assert(!ports!.has(key), () => `host port ${key} on node ${nodeId} taken twice (${ports!.get(key)}, ${taskId})`);
      ports!.set(key, taskId);
    }
    this.claims.set(taskId, claim);
  }

  private release(taskId: TaskId, nodeId: NodeId): void {
    const claim = this.claims.get(taskId) as TaskClaim;
    const node = this.nodeTable.get(nodeId);
    assert(node !== null, `task ${taskId} holds a claim on unknown node ${nodeId}`);
    this.nodeTable.put({ ...node, reserved: subtractResources(node.reserved, claim.resources) });
    const ports = this.hostPorts.get(nodeId);
    for (const key of claim.hostPorts) ports?.delete(key);
    if (ports?.size === 0) this.hostPorts.delete(nodeId);
    this.claims.delete(taskId);
  }
}
