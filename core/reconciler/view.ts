// The scheduler's view over the cluster store: the store already keeps reservations, host ports and
// volume bindings of the tasks that hold their nodes, so this only adapts names and counts tasks.

import type { SchedulerView } from '../scheduler/index.ts';
import { holdsClaim, type StateView } from '../state/index.ts';
import type { ClusterNode, NodeId, PortProtocol, Resources, Service, ServiceId } from '../state/types.ts';

export class StoreSchedulerView implements SchedulerView {
  private readonly counts = new Map<NodeId, { total: number; byService: Map<ServiceId, number> }>();
  /** What this pass has placed so far (the store sees it only once the pass is applied). */
  private readonly addedReserved = new Map<NodeId, Resources>();
  private readonly addedPorts = new Set<string>();
  private readonly boundVolumes = new Map<string, NodeId>();

  private nodeList: readonly ClusterNode[] | null = null;

  /** `goingDown`: nodes this pass marks down; placement must already see them so. */
  constructor(private readonly state: StateView, private readonly goingDown: ReadonlySet<NodeId> = new Set()) {}

  /** Account for a placement decided in this pass, so later services in the pass see it. */
  place(node: NodeId, service: Service): void {
    const c = this.count(node);
    c.total++;
    c.byService.set(service.id, (c.byService.get(service.id) ?? 0) + 1);
    const r = this.addedReserved.get(node) ?? { cpuMillis: 0, memoryBytes: 0 };
    const want = service.spec.reservations;
    this.addedReserved.set(node, { cpuMillis: r.cpuMillis + want.cpuMillis, memoryBytes: r.memoryBytes + want.memoryBytes });
    for (const p of service.spec.ports) if (p.mode === 'host' && p.published > 0) this.addedPorts.add(`${node}/${p.protocol}/${p.published}`);
    for (const m of service.spec.mounts) if (this.volumeNode(m.volume) === null) this.boundVolumes.set(m.volume, node);
  }

  nodes(): readonly ClusterNode[] {
    if (this.nodeList === null) {
      const nodes = this.state.nodes();
      this.nodeList = this.goingDown.size === 0 ? nodes : nodes.map((n) => (this.goingDown.has(n.id) ? { ...n, status: 'down' as const } : n));
    }
    return this.nodeList;
  }

  reserved(node: NodeId): Resources {
    const base = this.state.node(node)?.reserved ?? { cpuMillis: 0, memoryBytes: 0 };
    const added = this.addedReserved.get(node);
    return added ? { cpuMillis: base.cpuMillis + added.cpuMillis, memoryBytes: base.memoryBytes + added.memoryBytes } : base;
  }

  private count(node: NodeId): { total: number; byService: Map<ServiceId, number> } {
    let c = this.counts.get(node);
    if (c === undefined) {
      c = { total: 0, byService: new Map() };
      for (const t of this.state.tasksOnNode(node)) {
        if (!holdsClaim(t)) continue;
        c.total++;
        c.byService.set(t.serviceId, (c.byService.get(t.serviceId) ?? 0) + 1);
      }
      this.counts.set(node, c);
    }
    return c;
  }

  taskCount(node: NodeId): number {
    return this.count(node).total;
  }

  serviceTaskCount(node: NodeId, service: ServiceId): number {
    return this.count(node).byService.get(service) ?? 0;
  }

  hostPortInUse(node: NodeId, protocol: PortProtocol, port: number): boolean {
    return this.state.hostPortOwner(node, protocol, port) !== null || this.addedPorts.has(`${node}/${protocol}/${port}`);
  }

  volumeNode(name: string): NodeId | null | undefined {
    const volume = this.state.volumeByName(name);
    if (volume === null) return undefined;
    return volume.nodeId ?? this.boundVolumes.get(name) ?? null;
  }
}
