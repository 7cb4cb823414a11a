// Node liveness: a node the leader has not heard from within the heartbeat timeout is marked down
// (its tasks are then rescheduled by the service controllers). A node comes back by heartbeating:
// the store marks it ready again itself. A new leader counts silence only from when it took over.

import type { StateView } from '../state/index.ts';
import type { NodeId } from '../state/types.ts';
import type { ReconcileInput } from './config.ts';
import type { Plan } from './plan.ts';

/** Marks silent nodes down; returns them, so this pass places nothing on them. */
export function reconcileNodes(state: StateView, input: ReconcileInput, plan: Plan): Set<NodeId> {
  const down = new Set<NodeId>();
  for (const node of state.nodes()) {
    if (node.status === 'down') continue;
    const seen = Math.max(input.lastSeenUs(node.id) ?? 0, node.lastHeartbeatUs, input.leaderSinceUs);
    if (input.nowUs - seen <= input.config.heartbeatTimeoutUs) continue;
    plan.other.push({ type: 'node-set-status', id: node.id, status: 'down', atUs: input.nowUs });
    down.add(node.id);
  }
  return down;
}
