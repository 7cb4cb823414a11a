// The replicated cluster store: the Raft state machine of the orchestrator. `apply` is
// deterministic and total: it validates the command against the current state (it may have been
// proposed against an older one), and a command that is no longer valid has no effect and returns
// its error. It throws only on a broken invariant (a bug), never on a bad command.
// Invariants: names are unique per kind; a node's `reserved` is the sum of the claims of its live
// assigned tasks; a host port on a node is held by at most one live task; a task's state only
// moves forward; every live task with a claim runs on the node of each volume it mounts.

import { applyValidated } from './apply.ts';
import type { ApplyResult, StateCommand } from './commands.ts';
import type { StateError } from './errors.ts';
import { Tables } from './tables.ts';
import type {
  Certificate, CertificateId, ClusterNode, Ingress, IngressId, NodeId, PortProtocol, Secret, SecretId, Service, ServiceId, Task,
  TaskId, Volume, VolumeId,
} from './types.ts';
import { validateCommand } from './validate.ts';
import { noStoreBugs, type StoreBugs } from './bugs.ts';
import type { StateView, TaskClaim } from './view.ts';

export class ClusterState implements StateView {
  private readonly tables: Tables;

  /**
   * An empty store. (`tables` is for restore; it is not part of the public surface.) `bugs` plants
   * bugs in the store's checks, for the chaos suites only.
   */
  constructor(tables: Tables = new Tables(), private readonly bugs: StoreBugs = noStoreBugs) {
    this.tables = tables;
  }

  /** What validateCommand would say of `command` now: null when it would apply. */
  validate(command: StateCommand): StateError | null {
    return validateCommand(this.tables, command, this.bugs);
  }

  apply(command: StateCommand): ApplyResult {
    const error = validateCommand(this.tables, command, this.bugs);
    if (error !== null) return { ok: false, error };
    return { ok: true, changed: applyValidated(this.tables, command) };
  }

  node(id: NodeId): ClusterNode | null { return this.tables.node(id); }
  nodeByName(name: string): ClusterNode | null { return this.tables.nodeByName(name); }
  nodes(): readonly ClusterNode[] { return this.tables.nodes(); }
  service(id: ServiceId): Service | null { return this.tables.service(id); }
  serviceByName(name: string): Service | null { return this.tables.serviceByName(name); }
  services(): readonly Service[] { return this.tables.services(); }
  task(id: TaskId): Task | null { return this.tables.task(id); }
  tasks(): readonly Task[] { return this.tables.tasks(); }
  tasksOfService(id: ServiceId): readonly Task[] { return this.tables.tasksOfService(id); }
  tasksOnNode(id: NodeId): readonly Task[] { return this.tables.tasksOnNode(id); }
  claimOf(id: TaskId): TaskClaim | null { return this.tables.claimOf(id); }
  hostPortOwner(nodeId: NodeId, protocol: PortProtocol, port: number): TaskId | null { return this.tables.hostPortOwner(nodeId, protocol, port); }
  hostPortsInUse(nodeId: NodeId): readonly string[] { return this.tables.hostPortsInUse(nodeId); }
  secret(id: SecretId): Secret | null { return this.tables.secret(id); }
  secretByName(name: string): Secret | null { return this.tables.secretByName(name); }
  secrets(): readonly Secret[] { return this.tables.secrets(); }
  volume(id: VolumeId): Volume | null { return this.tables.volume(id); }
  volumeByName(name: string): Volume | null { return this.tables.volumeByName(name); }
  volumes(): readonly Volume[] { return this.tables.volumes(); }
  ingress(id: IngressId): Ingress | null { return this.tables.ingress(id); }
  ingressByName(name: string): Ingress | null { return this.tables.ingressByName(name); }
  ingresses(): readonly Ingress[] { return this.tables.ingresses(); }
  certificate(id: CertificateId): Certificate | null { return this.tables.certificate(id); }
  certificateByName(name: string): Certificate | null { return this.tables.certificateByName(name); }
  certificates(): readonly Certificate[] { return this.tables.certificates(); }
}
