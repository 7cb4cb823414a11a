// The health server over real HTTP on port 0: each endpoint's status codes and bodies, a full disk
// (from a real WAL on a file system that answers ENOSPC) turning /health into a 503 that names the
// disk, /metrics in the Prometheus format, 404 and 405, draining; and the readiness and component
// rules on their own.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultyFileSystem, fault, nodeFileSystem, openStorage } from '../storage/index.ts';
import { assessTransport, ManagerReadiness, workerReadiness, allReady, type Readiness, type StorageHealthSample } from './health-checks.ts';
import { HealthServer, type HealthChecks, type HealthReport } from './health.ts';
import { DaemonMetrics, type RaftSample } from './metrics.ts';
import { parsePrometheusText, valueOf } from './testing.ts';

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function call(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

let raft: RaftSample = { term: 4, role: 'leader', leader: 'm1', commit: 12, applied: 12 };
const healthyChecks = (storage: () => StorageHealthSample = () => ({ state: 'ok', reason: null, dataDir: '/var/lib/warren' })): HealthChecks => ({
  raft: () => raft,
  storage,
  transport: () => ({ outbound: { m2: { state: 'connected' }, m3: { state: 'backoff', lastError: 'ECONNREFUSED' } } }),
  api: () => ({ accepting: true, inFlightRequests: 0 }),
});

async function withServer(checks: HealthChecks, ready: () => Readiness, run: (port: number, server: HealthServer, metrics: DaemonMetrics) => Promise<void>): Promise<void> {
  const metrics = new DaemonMetrics({ nodeId: 'm1', processMetrics: false });
  metrics.collectFrom({ raft: () => raft });
  const server = new HealthServer({ nodeId: 'm1', metrics, ready, checks });
  const port = await server.start(0);
  try {
    await run(port, server, metrics);
  } finally {
    await server.close();
  }
}

test('/live answers 200, /health 200 with every component while all are healthy', () =>
  withServer(healthyChecks(), () => ({ ready: true, reason: null }), async (port) => {
    const live = await call(port, '/live');
    assert.equal(live.status, 200);
    assert.deepEqual(JSON.parse(live.body), { status: 'live' });
    assert.match(String(live.headers['content-type']), /^application\/json/);

    const health = await call(port, '/health');
    assert.equal(health.status, 200);
    const report = JSON.parse(health.body) as HealthReport;
    assert.equal(report.status, 'healthy');
    assert.equal(report.node_id, 'm1');
    assert.deepEqual(report.problems, []);
    assert.deepEqual(Object.keys(report.components), ['raft', 'storage', 'transport', 'api']);
    assert.deepEqual(report.components.raft!.details, { role: 'leader', term: 4, leader: 'm1', commit: 12, applied: 12 });
    assert.equal(report.components.storage!.details.state, 'ok');
    assert.deepEqual(report.components.transport!.details, { peers: { m2: 'connected', m3: 'backoff' }, connected: 1, total: 2 });
    assert.deepEqual(report.components.transport!.warnings, ['peer m3 not connected (backoff: ECONNREFUSED)'], 'one peer down of three: a warning, still healthy');
  }));

test('a full disk makes /health 503 naming the disk, while /live stays 200', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'warren-health-'));
  const faulty = new FaultyFileSystem(nodeFileSystem);
  const { storage } = await openStorage(dir, { fileSystem: faulty, diskFullProbeIntervalMs: 60_000 });
  try {
    await withServer(healthyChecks(() => ({ ...storage.status(), dataDir: dir })), () => ({ ready: true, reason: null }), async (port) => {
      assert.equal((await call(port, '/health')).status, 200);
      faulty.rule = (op) => (op === 'write' || op === 'create' ? fault('ENOSPC') : null);
      await assert.rejects(storage.append({ entries: [{ index: 1, term: 1, type: 'normal', data: 'x' }], hardState: null, snapshot: null }));
      const health = await call(port, '/health');
      assert.equal(health.status, 503);
      const report = JSON.parse(health.body) as HealthReport;
      assert.equal(report.status, 'unhealthy');
      assert.equal(report.components.storage!.healthy, false);
      assert.equal(report.components.storage!.details.state, 'disk-full');
      assert.equal(report.problems.length, 1);
      assert.match(report.problems[0]!, /^storage: disk full at /);
      assert.ok(report.problems[0]!.includes(dir), 'names the data directory');
      assert.match(report.problems[0]!, /ENOSPC/);
      assert.match(report.problems[0]!, /reads are still served/);
      assert.equal(report.components.raft!.healthy, true);
      assert.equal((await call(port, '/live')).status, 200);
    });
  } finally {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('/ready follows the readiness check: 503 with the reason, then 200', async () => {
  const readiness = new ManagerReadiness();
  raft = { term: 1, role: 'follower', leader: null, commit: 3, applied: 3 };
  await withServer(healthyChecks(), () => readiness.check(raft), async (port) => {
    const noLeader = await call(port, '/ready');
    assert.equal(noLeader.status, 503);
    assert.deepEqual(JSON.parse(noLeader.body), { ready: false, reason: 'no known Raft leader' });
    raft = { term: 2, role: 'follower', leader: 'm2', commit: 9, applied: 5 };
    const behind = await call(port, '/ready');
    assert.equal(behind.status, 503);
    assert.match(JSON.parse(behind.body).reason, /catching up: applied 5 of 9/);
    raft = { ...raft, commit: 15, applied: 9 };
    const ready = await call(port, '/ready');
    assert.equal(ready.status, 200, 'caught up with the commit index it saw at startup');
    assert.deepEqual(JSON.parse(ready.body), { ready: true, reason: null });
    const health = await call(port, '/health');
    assert.equal(health.status, 200);
  });
  raft = { term: 4, role: 'leader', leader: 'm1', commit: 12, applied: 12 };
});

test('/metrics serves the Prometheus text of the node with its content type', () =>
  withServer(healthyChecks(), () => ({ ready: true, reason: null }), async (port, _server, metrics) => {
    metrics.observeApiRequest('/warren.Api/ListTasks', 0, 0.01);
    const reply = await call(port, '/metrics');
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    const families = parsePrometheusText(reply.body);
    assert.equal(valueOf(families, 'warren_raft_term', { node_id: 'm1' }), 4, 'sources sampled at scrape time');
    assert.equal(valueOf(families, 'warren_api_request_duration_seconds_count', { node_id: 'm1', method: '/warren.Api/ListTasks', code: '0' }), 1);
  }));

test('unknown paths get 404, other methods 405 with Allow, HEAD the headers only', () =>
  withServer(healthyChecks(), () => ({ ready: true, reason: null }), async (port) => {
    assert.equal((await call(port, '/nope')).status, 404);
    assert.equal((await call(port, '/')).status, 404);
    assert.equal((await call(port, '/health?verbose=1')).status, 200, 'a query string does not change the route');
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const reply = await call(port, '/health', method);
      assert.equal(reply.status, 405, method);
      assert.equal(reply.headers.allow, 'GET, HEAD');
    }
    const head = await call(port, '/live', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  }));

test('a check that throws fails its component, not the server; draining turns /ready and /health to 503', () =>
  withServer({ ...healthyChecks(), api: () => { throw new Error('api server not started'); } }, () => ({ ready: true, reason: null }), async (port, server) => {
    const health = await call(port, '/health');
    assert.equal(health.status, 503);
    assert.deepEqual((JSON.parse(health.body) as HealthReport).problems, ['api: check failed: api server not started']);
    server.markDraining();
    const ready = await call(port, '/ready');
    assert.equal(ready.status, 503);
    assert.deepEqual(JSON.parse(ready.body), { ready: false, reason: 'shutting down' });
    const drained = JSON.parse((await call(port, '/health')).body) as HealthReport;
    assert.equal(drained.draining, true);
    assert.equal(drained.problems[0], 'node: shutting down');
    assert.equal((await call(port, '/live')).status, 200);
  }));

test('start binds once; close stops listening', async () => {
  const server = new HealthServer({ nodeId: 'w1', metrics: new DaemonMetrics({ processMetrics: false }), ready: () => workerReadiness(false, 'm1'), checks: {} });
  const port = await server.start(0);
  await assert.rejects(server.start(0), /already started/);
  const reply = await call(port, '/ready');
  assert.deepEqual([reply.status, JSON.parse(reply.body).reason], [503, 'not connected to manager m1']);
  assert.equal((await call(port, '/health')).status, 200, 'no components, nothing wrong');
  await server.close();
  await assert.rejects(call(port, '/live'), /ECONNREFUSED/);
});

test('the transport is unhealthy only without a quorum of reachable managers', () => {
  const peers = (...states: ('connected' | 'backoff')[]) => ({ outbound: Object.fromEntries(states.map((state, i) => [`m${i + 2}`, { state }])) });
  assert.equal(assessTransport(peers('connected', 'backoff')).healthy, true, '2 of 3');
  assert.equal(assessTransport(peers('backoff', 'backoff')).healthy, false, '1 of 3');
  assert.match(assessTransport(peers('backoff', 'backoff')).problems[0]!, /only 1 of 3 managers reachable.*quorum needs 2/);
  assert.equal(assessTransport(peers('connected', 'backoff', 'backoff', 'backoff')).healthy, false, '2 of 5');
  assert.equal(assessTransport(peers('connected', 'connected', 'backoff', 'backoff')).healthy, true, '3 of 5');
  assert.equal(assessTransport(peers()).healthy, true, 'a single manager');
});

test('readiness: a manager latches once caught up, then follows the leader; a hybrid needs both', () => {
  const readiness = new ManagerReadiness();
  assert.equal(readiness.check({ leader: 'm2', commit: 10, applied: 4 }).ready, false);
  assert.equal(readiness.check({ leader: 'm2', commit: 30, applied: 20 }).ready, true, 'target fixed at the first commit seen with a leader');
  assert.equal(readiness.check({ leader: 'm2', commit: 40, applied: 30 }).ready, true, 'a later lag does not unready it');
  assert.equal(readiness.check({ leader: null, commit: 40, applied: 40 }).ready, false);
  assert.equal(readiness.check({ leader: 'm3', commit: 41, applied: 40 }).ready, true);
  assert.deepEqual(allReady(readiness.check({ leader: 'm3', commit: 41, applied: 41 }), workerReadiness(false)), { ready: false, reason: 'not connected to a manager' });
  assert.deepEqual(allReady(workerReadiness(true)), { ready: true, reason: null });
});

test('a taken port fails start() (which may be retried), a throwing readiness check or scrape answers 503 or 500', async () => {
  const holder = new HealthServer({ nodeId: 'm1', metrics: new DaemonMetrics({ processMetrics: false }), ready: () => ({ ready: true, reason: null }), checks: {} });
  const taken = await holder.start(0);
  const failing = new HealthServer({
    nodeId: 'm2',
    metrics: { contentType: 'text/plain', scrape: () => Promise.reject(new Error('registry broken')) },
    ready: () => { throw new Error('raft node not built yet'); },
    checks: {},
    logger: { error: () => {} },
  });
  try {
    await assert.rejects(failing.start(taken), /EADDRINUSE/);
    const port = await failing.start(0);
    const ready = await call(port, '/ready');
    assert.deepEqual([ready.status, JSON.parse(ready.body).reason], [503, 'readiness check failed: raft node not built yet']);
    const metrics = await call(port, '/metrics');
    assert.equal(metrics.status, 500);
    assert.match(metrics.body, /metrics scrape failed: registry broken/);
  } finally {
    await failing.close();
    await holder.close();
  }
});
