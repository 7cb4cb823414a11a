// Orchestration checkers. After faults heal and the cluster converges, desired state must hold:
// exactly N running tasks per replicated service, each slot filled once; one per eligible node for
// global services; nothing running on a down or drained node; volume-bound tasks on the volume's
// node; secrets only on nodes that run a task using them; no task running a spec version its
// service never had (and, once converged, every task on the current one). During the run, a
// rolling update must never take more tasks down than its parallelism allows.
// The input is a plain snapshot of the store and of what the runtimes actually run, so the same
// checks serve the simulator and real clusters.

import type { ClusterNode, NodeId, Service, ServiceId, Task, TaskId, Volume } from '../../core/state/types.ts';

export interface RunningContainer {
  readonly nodeId: NodeId;
  readonly taskId: TaskId;
}

export interface DeliveredSecret {
  readonly nodeId: NodeId;
  readonly secret: string;
}

export interface OrchestrationSnapshot {
  readonly services: readonly Service[];
  readonly nodes: readonly ClusterNode[];
  readonly tasks: readonly Task[];
  readonly volumes: readonly Volume[];
  /** What the runtimes report running, on nodes that are up. */
  readonly running: readonly RunningContainer[];
  readonly secretsDelivered: readonly DeliveredSecret[];
  /** Whether the service may run on the node (availability, status and constraints). */
  eligible(node: ClusterNode, service: Service): boolean;
}

/** Every way the converged cluster differs from its desired state; empty when it matches. */
export function convergenceProblems(s: OrchestrationSnapshot): string[] {
  const problems: string[] = [];
  const taskById = new Map(s.tasks.map((t) => [t.id, t]));
  const nodeById = new Map(s.nodes.map((n) => [n.id, n]));
  const runningByService = new Map<ServiceId, { task: Task; nodeId: NodeId }[]>();
  for (const r of s.running) {
    const task = taskById.get(r.taskId);
    if (!task) {
      problems.push(`container of unknown task ${r.taskId} runs on ${r.nodeId}`);
      continue;
    }
    if (task.nodeId !== r.nodeId) problems.push(`task ${task.id} runs on ${r.nodeId} but is assigned to ${task.nodeId}`);
    const node = nodeById.get(r.nodeId);
    if (node && node.status === 'down') problems.push(`task ${task.id} runs on down node ${node.id}`);
    if (node && node.availability === 'drain') problems.push(`task ${task.id} runs on drained node ${node.id}`);
    const list = runningByService.get(task.serviceId) ?? [];
    list.push({ task, nodeId: r.nodeId });
    runningByService.set(task.serviceId, list);
  }
  for (const service of s.services) {
    const running = runningByService.get(service.id) ?? [];
    runningByService.delete(service.id);
    problems.push(...serviceProblems(s, service, running, nodeById));
  }
  for (const [serviceId, running] of [...runningByService.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    problems.push(`${running.length} task(s) of removed service ${serviceId} still run`);
  }
  problems.push(...volumeProblems(s, taskById));
  problems.push(...secretProblems(s, taskById));
  return problems;
}

function serviceProblems(s: OrchestrationSnapshot, service: Service, running: { task: Task; nodeId: NodeId }[], nodeById: Map<NodeId, ClusterNode>): string[] {
  const problems: string[] = [];
  const name = `service ${service.spec.name} (${service.id})`;
  for (const { task } of running) {
    if (task.specVersion > service.specVersion) problems.push(`${name}: task ${task.id} runs spec version ${task.specVersion}, newer than the service's ${service.specVersion}`);
    else if (task.specVersion !== service.specVersion) problems.push(`${name}: task ${task.id} still runs spec version ${task.specVersion}, not ${service.specVersion}`);
  }
  if (service.spec.mode.type === 'replicated') {
    const want = service.spec.mode.replicas;
    if (running.length !== want) problems.push(`${name}: ${running.length} running tasks, want ${want}`);
    const bySlot = new Map<number, number>();
    for (const { task } of running) bySlot.set(task.slot ?? -1, (bySlot.get(task.slot ?? -1) ?? 0) + 1);
    for (const [slot, count] of [...bySlot.entries()].sort((a, b) => a[0] - b[0])) {
      if (count > 1) problems.push(`${name}: slot ${slot} has ${count} running tasks`);
      if (slot < 1 || slot > want) problems.push(`${name}: a task runs in slot ${slot}, outside 1..${want}`);
    }
    return problems;
  }
  const perNode = new Map<NodeId, number>();
  for (const { nodeId } of running) perNode.set(nodeId, (perNode.get(nodeId) ?? 0) + 1);
  for (const node of s.nodes) {
    const count = perNode.get(node.id) ?? 0;
    const eligible = s.eligible(node, service);
    if (eligible && count !== 1) problems.push(`${name}: ${count} running tasks on eligible node ${node.id}, want 1`);
    if (!eligible && count > 0) problems.push(`${name}: ${count} running task(s) on ineligible node ${node.id}`);
  }
  for (const nodeId of perNode.keys()) if (!nodeById.has(nodeId)) problems.push(`${name}: a task runs on unknown node ${nodeId}`);
  return problems;
}

function volumeProblems(s: OrchestrationSnapshot, taskById: Map<TaskId, Task>): string[] {
  const problems: string[] = [];
  const volumeNode = new Map(s.volumes.map((v) => [v.name, v.nodeId]));
  const serviceById = new Map(s.services.map((x) => [x.id, x]));
  for (const r of s.running) {
    const task = taskById.get(r.taskId);
    const service = task && serviceById.get(task.serviceId);
    if (!service) continue;
    for (const mount of service.spec.mounts) {
      const bound = volumeNode.get(mount.volume);
      if (bound !== undefined && bound !== r.nodeId) problems.push(`task ${r.taskId} mounts volume ${mount.volume} on ${r.nodeId}, but the volume lives on ${bound}`);
    }
  }
  return problems;
}

function secretProblems(s: OrchestrationSnapshot, taskById: Map<TaskId, Task>): string[] {
  const needed = new Set<string>();
  const serviceById = new Map(s.services.map((x) => [x.id, x]));
  for (const r of s.running) {
    const task = taskById.get(r.taskId);
    const service = task && serviceById.get(task.serviceId);
    if (service) for (const ref of service.spec.secrets) needed.add(`${r.nodeId}\u0000${ref.secret}`);
  }
  const problems: string[] = [];
  for (const d of s.secretsDelivered) {
    if (!needed.has(`${d.nodeId}\u0000${d.secret}`)) problems.push(`secret ${d.secret} is on node ${d.nodeId}, which runs no task that uses it`);
  }
  return problems;
}

const notYetStarted: ReadonlySet<string> = new Set(['new', 'pending', 'assigned', 'starting']);

/**
 * Watches rolling updates as they happen: while a replicated service is updating (or rolling back),
 * the slots the updater has in progress must never exceed its parallelism. A slot is in progress
 * when nothing runs in it and its newest task is either an older-version task the updater told to
 * shut down (on a ready node: faults, not the updater, take down tasks on failed nodes) or a
 * current-version replacement of such a task that has not started yet. A replacement that failed
 * counts against the update's failure ratio instead. Call it whenever tasks change.
 */
export function updateAvailabilityProblem(s: OrchestrationSnapshot, service: Service): string | null {
  if (service.spec.mode.type !== 'replicated') return null;
  const status = service.updateStatus;
  if (status === null || (status.state !== 'updating' && status.state !== 'rolling-back')) return null;
  const config = status.state === 'updating' ? service.spec.update : service.spec.rollback;
  const replicas = service.spec.mode.replicas;
  const parallelism = config.parallelism === 0 ? replicas : config.parallelism;
  const readyNodes = new Set(s.nodes.filter((n) => n.status === 'ready').map((n) => n.id));
  const runningTasks = new Set(s.running.map((r) => r.taskId));
  const slots = new Map<number, Task[]>();
  for (const t of s.tasks) {
    if (t.serviceId !== service.id || t.slot === null) continue;
    const list = slots.get(t.slot) ?? [];
    list.push(t);
    slots.set(t.slot, list);
  }
  let inProgress = 0;
  for (const tasks of slots.values()) {
    if (tasks.some((t) => runningTasks.has(t.id))) continue;
    tasks.sort((a, b) => a.createdAtUs - b.createdAtUs || (a.id < b.id ? -1 : 1));
    const stoppedByUpdater = (t: Task) => t.specVersion !== service.specVersion && t.desiredState === 'shutdown' && t.nodeId !== null && readyNodes.has(t.nodeId);
    const newest = tasks[tasks.length - 1]!;
    if (stoppedByUpdater(newest)) inProgress++;
    else if (newest.specVersion === service.specVersion && notYetStarted.has(newest.observedState) && tasks.some(stoppedByUpdater)) inProgress++;
  }
  if (inProgress <= parallelism) return null;
  return `service ${service.spec.name} (${service.id}): the ${config.order} update has ${inProgress} slots down at once; its parallelism allows ${parallelism}`;
}
