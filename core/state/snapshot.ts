// Snapshot and restore of the cluster store for Raft log compaction. The snapshot is canonical
// JSON (sorted keys, every list in id order), so equal states give equal bytes and
// snapshot(restore(s)) === s. Restore rebuilds every index by replaying the objects through the
// same put paths apply uses, then asserts the reservations it rebuilt equal those recorded.

import { assert } from '../assert.ts';
import { canonicalJson } from './codec.ts';
import { sameResources } from './resources.ts';
import { ClusterState } from './store.ts';
import { Tables } from './tables.ts';
import { noStoreBugs, type StoreBugs } from './bugs.ts';
import { noResources, type Certificate, type ClusterNode, type Ingress, type Secret, type Service, type Task, type TaskId, type Volume } from './types.ts';
import type { StateView, TaskClaim } from './view.ts';

// 2: tasks carry shutdownCause and shutdownAtUs.
const snapshotFormat = 'warren-cluster-state/2';

interface SnapshotData {
  readonly format: typeof snapshotFormat;
  readonly nodes: readonly ClusterNode[];
  readonly services: readonly Service[];
  readonly tasks: readonly Task[];
  /** The claim of every task that holds one, in task id order. */
  readonly claims: readonly { readonly taskId: TaskId; readonly claim: TaskClaim }[];
  readonly secrets: readonly Secret[];
  readonly volumes: readonly Volume[];
  readonly ingresses: readonly Ingress[];
  readonly certificates: readonly Certificate[];
}

export function snapshot(state: StateView): string {
  const tasks = state.tasks();
  const claims: { taskId: TaskId; claim: TaskClaim }[] = [];
  for (const task of tasks) {
    const claim = state.claimOf(task.id);
    if (claim !== null) claims.push({ taskId: task.id, claim });
  }
  const data: SnapshotData = {
    format: snapshotFormat,
    nodes: state.nodes(),
    services: state.services(),
    tasks,
    claims,
    secrets: state.secrets(),
    volumes: state.volumes(),
    ingresses: state.ingresses(),
    certificates: state.certificates(),
  };
  return canonicalJson(data);
}

/** The store a snapshot was taken of; the empty string (no snapshot yet) gives an empty store. */
/** `bugs`: planted bugs of the restored store's checks (chaos only; none by default). */
export function restore(text: string, bugs: StoreBugs = noStoreBugs): ClusterState {
  const tables = new Tables();
  if (text === '') return new ClusterState(tables, bugs);
  const data = JSON.parse(text) as SnapshotData;
  assert(data.format === snapshotFormat, () => `unknown cluster state snapshot format ${JSON.stringify(data.format)}`);
  for (const node of data.nodes) tables.putNode({ ...node, reserved: noResources });
  for (const service of data.services) tables.serviceTable.put(service);
  for (const secret of data.secrets) tables.secretTable.put(secret);
  for (const volume of data.volumes) tables.volumeTable.put(volume);
  for (const ingress of data.ingresses) tables.ingressTable.put(ingress);
  for (const certificate of data.certificates) tables.certificateTable.put(certificate);
  const claims = new Map(data.claims.map(({ taskId, claim }) => [taskId, claim]));
  for (const task of data.tasks) tables.putTask(task, claims.get(task.id) ?? null);
  for (const { taskId } of data.claims) assert(tables.claimOf(taskId) !== null, `snapshot has a claim for task ${taskId}, which holds none`);
  for (const node of data.nodes) {
    const rebuilt = tables.node(node.id);
    assert(rebuilt !== null && sameResources(rebuilt.reserved, node.reserved), () => `node ${node.id}: snapshot says reserved ${JSON.stringify(node.reserved)}, its tasks hold ${JSON.stringify(rebuilt?.reserved)}`);
  }
  return new ClusterState(tables, bugs);
}
