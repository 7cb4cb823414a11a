// The scheduler's view over the cluster store: the store already keeps reservations, host ports and
// volume bindings of the tasks that hold their nodes, so this only adapts names and counts tasks.
// What a pass places is recorded by the scheduler's own pass view (core/scheduler/pass.ts), so
// this one stays the store as the pass found it, with the nodes the pass marks down shown down.

import type { SchedulerView } from '../scheduler/index.ts';
import { holdsClaim, type StateView } from '../state/index.ts';
import type { ClusterNode, NodeId, PortProtocol, Resources, ServiceId } from '../state/types.ts';

const noResources: Resources = { cpuMillis: 0, memoryBytes: 0 };

export class StoreSchedulerView implements SchedulerView {
  /** Per node, the tasks holding it; per service, the nodes its tasks hold: counted when first asked. */
  private readonly totals = new Map<NodeId, number>();
  private readonly serviceNodes = new Map<ServiceId, Map<NodeId, number>>();
  private nodeList: readonly ClusterNode[] | null = null;

  /** `goingDown`: nodes this pass marks down; placement must already see them so. */
  constructor(private readonly state: StateView, private readonly goingDown: ReadonlySet<NodeId> = new Set()) {}

  nodes(): readonly ClusterNode[] {
    if (this.nodeList === null) {
      const nodes = this.state.nodes();
      this.nodeList = this.goingDown.size === 0 ? nodes : nodes.map((n) => (this.goingDown.has(n.id) ? { ...n, status: 'down' as const } : n));
    }
    return this.nodeList;
  }

  reserved(node: NodeId): Resources {
    return this.state.node(node)?.reserved ?? noResources;
  }

  taskCount(node: NodeId): number {
    let total = this.totals.get(node);
    if (total === undefined) {
      total = 0;
      for (const t of this.state.tasksOnNode(node)) if (holdsClaim(t)) total++;
      this.totals.set(node, total);
    }
    return total;
  }

  serviceTaskNodes(service: ServiceId): ReadonlyMap<NodeId, number> {
    let nodes = this.serviceNodes.get(service);
    if (nodes === undefined) {
      nodes = new Map();
      for (const t of this.state.tasksOfService(service)) if (holdsClaim(t)) nodes.set(t.nodeId!, (nodes.get(t.nodeId!) ?? 0) + 1);
      this.serviceNodes.set(service, nodes);
    }
    return nodes;
  }

  serviceTaskCount(node: NodeId, service: ServiceId): number {
    return this.serviceTaskNodes(service).get(node) ?? 0;
  }

  hostPortInUse(node: NodeId, protocol: PortProtocol, port: number): boolean {
    return this.state.hostPortOwner(node, protocol, port) !== null;
  }

  volumeNode(name: string): NodeId | null | undefined {
    const volume = this.state.volumeByName(name);
    if (volume === null) return undefined;
    return volume.nodeId;
  }
}
