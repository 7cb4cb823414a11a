// Secrets end to end on real daemons (3 managers, 1 worker, child processes on loopback): a secret
// created through the client API (sealed under the cluster key in the replicated store) reaches,
// byte for byte, the file of a task that names it on the worker, which asked a manager for it over
// the worker service's ReadSecret; every manager, followers included, serves it to the task's node
// and refuses it to any other node; and no daemon's log carries the value.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Task } from '../../core/state/index.ts';
import { WorkerClient } from '../grpc/worker-service.ts';
import { ProcessCluster, until } from './process-cluster.ts';

const cluster = await ProcessCluster.create({ name: 'secrets', managers: 3, workers: 1 });
const clients: WorkerClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  await cluster.cleanup();
});

/** Bytes a text path would mangle (NUL, newline, invalid UTF-8), plus a marker to look for in logs. */
const value = Buffer.concat([Buffer.from('s3cr3t-marker-5f1c'), Buffer.from([0x00, 0x0a, 0xff, 0xfe, 0xc3])]);

test('a secret created through the API arrives, exact, in the file of the task that names it; only that task\'s node may read it', { timeout: 40_000 }, () => cluster.diagnose(async () => {
  await cluster.startAll();
  const api = cluster.client();
  await api.call('SecretCreate', { name: 'db', valueBase64: value.toString('base64') });
  const out = join(cluster.root, 'secret-seen-by-task');
  // Written aside then renamed, so the test never reads a half-written copy.
  const script = `cat "$WARREN_SECRETS_DIR/db-password" > "${out}.tmp" && mv "${out}.tmp" "${out}"; exec sleep 1000`;
  await api.call('ServiceCreate', { spec: {
    name: 'reader', image: 'process:sh', args: ['-c', script], mode: { type: 'replicated', replicas: 1 },
    secrets: [{ secret: 'db', target: 'db-password' }],
  } });

  let task: Task | undefined;
  await until('the task running on w1 and its copy of the secret written', async () => {
    const { tasks } = await api.call('TaskList', { service: 'reader', leaderOnly: true });
    task = tasks.find((t) => t.observedState === 'running' && t.nodeId === 'w1');
    return task !== undefined && existsSync(out);
  }, 20_000, 100);
  assert.deepEqual(readFileSync(out), value, 'the task read the exact bytes');
  const reads = [...cluster.managers.values()].flatMap((m) => m.find('secret-read'));
  // The daemon's logger redacts the `secret` key itself (adapters/observability/logging.ts), name included.
  assert.ok(reads.some((e) => e.task_id === task!.id && e.node_id === 'w1' && e.secret === '[redacted]'), 'a manager logged serving the read');

  // Asked directly, every manager (followers serve from their applied store) gives it to w1 for its task, and to no other node.
  const { clusterId } = await api.call('ClusterInfo', {});
  for (const manager of cluster.managers.values()) {
    const client = new WorkerClient(manager.address, clusterId);
    clients.push(client);
    await until(`${manager.id} has applied the task's placement`, async () => (await client.readSecret({ node: 'w1', task: task!.id, secret: 'db' }, 2_000).catch(() => null))?.equals(value) === true, 5_000);
    await assert.rejects(client.readSecret({ node: 'w9', task: task!.id, secret: 'db' }, 2_000), (error: grpc.ServiceError) => {
      assert.equal(grpc.status[error.code], 'PERMISSION_DENIED', `${manager.id}: ${error.details}`);
      return true;
    });
  }

  const marker = 's3cr3t-marker';
  const leaked = cluster.logTail(4_000).split('\n').filter((line) => line.includes(marker) || line.includes(value.toString('base64')));
  assert.deepEqual(leaked, [], 'no daemon logged the value');
}));
