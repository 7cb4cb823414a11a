// DaemonMetrics: every metric issue 4 lists is exported and parses as Prometheus text; histograms
// count what they observe; the scrape-time sources set the gauges and counters (and a failing one
// does not fail the scrape); the WAL's fsync histogram is exported exactly as the WAL counted it;
// two DaemonMetrics in one process stay apart. The strict text parser is itself shown to reject
// broken expositions first.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register as globalRegistry } from 'prom-client';
import type { Entry } from '../../core/raft/index.ts';
import { nodeId } from '../../core/raft/index.ts';
import { FSYNC_BUCKETS_MS, openStorage, type StorageMetrics } from '../storage/index.ts';
import { DaemonMetrics, OTHER_API_METHOD, type MetricsSources, type RaftSample, type TransportSample } from './metrics.ts';
import { parsePrometheusText, valueOf } from './testing.ts';

const header = (name: string, type: string) => `# HELP ${name} h\n# TYPE ${name} ${type}\n`;

test('the Prometheus text parser rejects broken expositions', () => {
  const good = `${header('a_total', 'counter')}a_total{x="1"} 3\n${header('h', 'histogram')}h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3.5\nh_count 2\n`;
  assert.equal(valueOf(parsePrometheusText(good), 'a_total', { x: '1' }), 3);
  const broken: Record<string, string> = {
    'no TYPE': 'a 1\n',
    'no trailing newline': `${header('a', 'gauge')}a 1`,
    'bad value': `${header('a', 'gauge')}a one\n`,
    'unquoted label': `${header('a', 'gauge')}a{x=1} 1\n`,
    'duplicate series': `${header('a', 'gauge')}a{x="1"} 1\na{x="1"} 2\n`,
    'second TYPE': `${header('a', 'gauge')}# TYPE a gauge\n`,
    'buckets not cumulative': `${header('h', 'histogram')}h_bucket{le="1"} 2\nh_bucket{le="2"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n`,
    '+Inf differs from count': `${header('h', 'histogram')}h_bucket{le="+Inf"} 1\nh_sum 1\nh_count 2\n`,
    'no +Inf bucket': `${header('h', 'histogram')}h_bucket{le="1"} 1\nh_sum 1\nh_count 1\n`,
  };
  for (const [what, text] of Object.entries(broken)) assert.throws(() => parsePrometheusText(text), Error, what);
});

const raftSample: RaftSample = { term: 7, role: 'leader', leader: 'm1', commit: 42, applied: 40 };

const transportSample = (peers: string[]): TransportSample => ({
  outbound: Object.fromEntries(peers.map((peer, i) => [peer, {
    state: i === 0 ? 'connected' : 'backoff',
    sentMessages: 10 + i, sentBytes: 1000 + i,
    drops: { overflow: 2, oversize: 0, unencodable: 0, 'stream-failed': i, closed: 0 },
  }])),
  peers: Object.fromEntries(peers.map((peer, i) => [peer, { receivedMessages: 20 + i, receivedBytes: 2000 + i }])),
});

const storageMetrics = (counts: readonly number[], totalMs: number): StorageMetrics => {
  let running = 0;
  const cumulative = counts.map((count) => (running += count));
  return {
    fsyncCount: running, fsyncTotalMs: totalMs, fsyncMaxMs: 0, fsyncBucketCounts: cumulative,
    appendCount: 5, bytesWritten: 4096, segmentsCreated: 1, segmentsRemoved: 0, snapshotsSaved: 2,
  };
};

// One fsync in the 0.1 ms bucket, two in the 2.5 ms one, one beyond 1 s.
const fsyncCounts = [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1];

const allSources = (): MetricsSources => ({
  raft: () => raftSample,
  tasks: () => ({ running: 3, pending: 1 }),
  storage: () => ({ metrics: storageMetrics(fsyncCounts, 1205.05), state: 'disk-full' }),
  transport: () => transportSample(['m2', 'm3']),
});

const listedMetrics: Record<string, string> = {
  warren_raft_term: 'gauge',
  warren_raft_role: 'gauge',
  warren_raft_has_leader: 'gauge',
  warren_raft_commit_index: 'gauge',
  warren_raft_applied_index: 'gauge',
  warren_raft_commit_latency_seconds: 'histogram',
  warren_raft_apply_latency_seconds: 'histogram',
  warren_api_request_duration_seconds: 'histogram',
  warren_scheduler_pass_duration_seconds: 'histogram',
  warren_scheduling_latency_seconds: 'histogram',
  warren_tasks: 'gauge',
  warren_wal_fsync_duration_seconds: 'histogram',
  warren_wal_disk_full: 'gauge',
  warren_wal_appends_total: 'counter',
  warren_wal_written_bytes_total: 'counter',
  warren_wal_snapshots_saved_total: 'counter',
  warren_raft_transport_sent_messages_total: 'counter',
  warren_raft_transport_sent_bytes_total: 'counter',
  warren_raft_transport_received_messages_total: 'counter',
  warren_raft_transport_received_bytes_total: 'counter',
  warren_raft_transport_dropped_messages_total: 'counter',
  warren_raft_transport_peer_connected: 'gauge',
  warren_metrics_source_errors_total: 'counter',
  process_cpu_user_seconds_total: 'counter',
  process_resident_memory_bytes: 'gauge',
  nodejs_eventloop_lag_seconds: 'gauge',
};

test('every listed metric is exported with its type, and the scrape parses as Prometheus text', async () => {
  const metrics = new DaemonMetrics({ nodeId: 'm1' });
  metrics.collectFrom(allSources());
  const families = parsePrometheusText(await metrics.scrape());
  for (const [name, type] of Object.entries(listedMetrics)) {
    assert.equal(families.get(name)?.type, type, `${name} exported as a ${type}`);
  }
  assert.equal(metrics.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  for (const family of families.values()) {
    for (const sample of family.samples) assert.equal(sample.labels.node_id, 'm1', `${sample.name} carries node_id`);
  }
});

test('the sources set the Raft, task, WAL and transport metrics at scrape time', async () => {
  const metrics = new DaemonMetrics({ nodeId: 'm1', processMetrics: false });
  metrics.collectFrom(allSources());
  const families = parsePrometheusText(await metrics.scrape());
  const value = (name: string, labels: Record<string, string> = {}) => valueOf(families, name, { node_id: 'm1', ...labels });
  assert.equal(value('warren_raft_term'), 7);
  assert.deepEqual(['follower', 'pre-candidate', 'candidate', 'leader'].map((role) => value('warren_raft_role', { role })), [0, 0, 0, 1]);
  assert.equal(value('warren_raft_has_leader'), 1);
  assert.equal(value('warren_raft_commit_index'), 42);
  assert.equal(value('warren_raft_applied_index'), 40);
  assert.equal(value('warren_tasks', { state: 'running' }), 3);
  assert.equal(value('warren_tasks', { state: 'pending' }), 1);
  assert.equal(value('warren_tasks', { state: 'failed' }), 0, 'states the store has none of are 0, not absent');
  assert.equal(value('warren_wal_disk_full'), 1);
  assert.equal(value('warren_wal_appends_total'), 5);
  assert.equal(value('warren_wal_snapshots_saved_total'), 2);
  assert.equal(value('warren_raft_transport_sent_messages_total', { peer: 'm3' }), 11);
  assert.equal(value('warren_raft_transport_received_messages_total', { peer: 'm2' }), 20);
  assert.equal(value('warren_raft_transport_dropped_messages_total', { peer: 'm3', cause: 'stream-failed' }), 1);
  assert.equal(value('warren_raft_transport_dropped_messages_total', { peer: 'm2', cause: 'overflow' }), 2);
  assert.equal(value('warren_raft_transport_peer_connected', { peer: 'm2' }), 1);
  assert.equal(value('warren_raft_transport_peer_connected', { peer: 'm3' }), 0);

  // A new sample replaces the old one: counters follow their source, a removed peer disappears.
  metrics.collectFrom({ raft: () => ({ ...raftSample, role: 'follower', leader: null, term: 8 }), transport: () => transportSample(['m2']) });
  const next = parsePrometheusText(await metrics.scrape());
  assert.equal(valueOf(next, 'warren_raft_role', { node_id: 'm1', role: 'follower' }), 1);
  assert.equal(valueOf(next, 'warren_raft_role', { node_id: 'm1', role: 'leader' }), 0);
  assert.equal(valueOf(next, 'warren_raft_has_leader', { node_id: 'm1' }), 0);
  assert.equal(valueOf(next, 'warren_raft_transport_sent_messages_total', { node_id: 'm1', peer: 'm2' }), 10, 'mirrored, not accumulated');
  assert.equal(valueOf(next, 'warren_raft_transport_sent_messages_total', { node_id: 'm1', peer: 'm3' }), undefined);
});

test('histograms count observed values in the right buckets, API requests by method and code', async () => {
  const metrics = new DaemonMetrics({ processMetrics: false, maxApiMethods: 2 });
  metrics.observeCommitLatency(0.003);
  metrics.observeCommitLatency(0.2);
  metrics.observeApplyLatency(0.0004);
  metrics.observeSchedulerPass(0.002);
  metrics.observeSchedulingLatency(1.5);
  metrics.observeApiRequest('/warren.Api/CreateService', 0, 0.02);
  metrics.observeApiRequest('/warren.Api/CreateService', 'UNAVAILABLE', 0.2);
  metrics.observeApiRequest('/warren.Api/ListTasks', 0, 0.004);
  metrics.observeApiRequest('/warren.Api/Third', 0, 0.004);
  const families = parsePrometheusText(await metrics.scrape());
  const commit = (le: string) => valueOf(families, 'warren_raft_commit_latency_seconds_bucket', { le });
  assert.deepEqual([commit('0.0025'), commit('0.005'), commit('0.1'), commit('0.25'), commit('+Inf')], [0, 1, 1, 2, 2]);
  assert.equal(valueOf(families, 'warren_raft_commit_latency_seconds_count'), 2);
  assert.ok(Math.abs(valueOf(families, 'warren_raft_commit_latency_seconds_sum')! - 0.203) < 1e-9);
  assert.equal(valueOf(families, 'warren_raft_apply_latency_seconds_bucket', { le: '0.0005' }), 1);
  assert.equal(valueOf(families, 'warren_raft_apply_latency_seconds_bucket', { le: '0.00025' }), 0);
  assert.equal(valueOf(families, 'warren_scheduler_pass_duration_seconds_count'), 1);
  assert.equal(valueOf(families, 'warren_scheduling_latency_seconds_bucket', { le: '2.5' }), 1);
  const api = (method: string, code: string) => valueOf(families, 'warren_api_request_duration_seconds_count', { method, code });
  assert.equal(api('/warren.Api/CreateService', '0'), 1);
  assert.equal(api('/warren.Api/CreateService', 'UNAVAILABLE'), 1);
  assert.equal(api('/warren.Api/ListTasks', '0'), 1);
  assert.equal(api('/warren.Api/Third', '0'), undefined, 'beyond maxApiMethods');
  assert.equal(api(OTHER_API_METHOD, '0'), 1);
});

test('the WAL fsync histogram is exported exactly as the WAL counted it, bounds in seconds', async () => {
  const metrics = new DaemonMetrics({ processMetrics: false });
  let fsync = storageMetrics(fsyncCounts, 1205.05);
  metrics.collectFrom({ storage: () => ({ metrics: fsync, state: 'ok' }) });
  const families = parsePrometheusText(await metrics.scrape());
  const buckets = families.get('warren_wal_fsync_duration_seconds')!.samples.filter((sample) => sample.name.endsWith('_bucket'));
  assert.deepEqual(buckets.map((sample) => sample.labels.le), [...FSYNC_BUCKETS_MS.map((ms) => String(ms / 1000)), '+Inf']);
  assert.equal(buckets[0]!.labels.le, '0.0001');
  assert.deepEqual(buckets.map((sample) => sample.value), fsync.fsyncBucketCounts);
  assert.equal(valueOf(families, 'warren_wal_fsync_duration_seconds_count'), 4);
  assert.ok(Math.abs(valueOf(families, 'warren_wal_fsync_duration_seconds_sum')! - 1.20505) < 1e-12);
  assert.equal(valueOf(families, 'warren_wal_disk_full'), 0);

  fsync = storageMetrics([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0); // the WAL was reopened
  const reopened = parsePrometheusText(await metrics.scrape());
  assert.equal(valueOf(reopened, 'warren_wal_fsync_duration_seconds_count'), 0);
  assert.equal(valueOf(reopened, 'warren_wal_fsync_duration_seconds_bucket', { le: '+Inf' }), 0);
});

test('a WAL sample that is not a cumulative histogram with the WAL bounds is refused', () => {
  const metrics = new DaemonMetrics({ processMetrics: false });
  const sample = (bucketCounts: number[], count: number) => ({ metrics: { ...storageMetrics(fsyncCounts, 1), fsyncBucketCounts: bucketCounts, fsyncCount: count }, state: 'ok' as const });
  assert.throws(() => metrics.setStorage(sample([1, 2], 2)), /2 bucket counts given, 13 expected/);
  assert.throws(() => metrics.setStorage(sample([2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 1)), /cumulative/);
  assert.throws(() => metrics.setStorage(sample([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 2)), /must equal the count/);
  metrics.collectFrom({ storage: () => sample([1, 2], 2) });
  metrics.refresh();
  metrics.refresh();
  const errors = metrics.registry.getSingleMetric('warren_metrics_source_errors_total');
  assert.ok(errors !== undefined);
  return errors.get().then((value) => assert.deepEqual(value.values.map((v) => [v.labels.source, v.value]), [['storage', 2]], 'a refused sample is a failed source, not a failed scrape'));
});

test("a real WAL's fsyncs show in the scrape with the WAL's own counts", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'warren-observability-'));
  try {
    const { storage } = await openStorage(dir);
    const entry = (index: number): Entry => ({ index, term: 1, type: 'normal', data: `e${index}` });
    for (let index = 1; index <= 5; index++) await storage.append({ entries: [entry(index)], hardState: { term: 1, vote: nodeId('m1'), commit: index - 1 }, snapshot: null });
    const metrics = new DaemonMetrics({ processMetrics: false });
    metrics.collectFrom({ storage: () => ({ metrics: storage.metrics(), state: storage.status().state }) });
    const families = parsePrometheusText(await metrics.scrape());
    const counted = storage.metrics();
    await storage.close();
    assert.ok(counted.fsyncCount >= 5, 'each awaited append was synced');
    assert.equal(valueOf(families, 'warren_wal_fsync_duration_seconds_count'), counted.fsyncCount);
    assert.equal(valueOf(families, 'warren_wal_fsync_duration_seconds_bucket', { le: '+Inf' }), counted.fsyncCount);
    assert.ok(Math.abs(valueOf(families, 'warren_wal_fsync_duration_seconds_sum')! - counted.fsyncTotalMs / 1000) < 1e-9);
    assert.equal(valueOf(families, 'warren_wal_appends_total'), counted.appendCount);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a source that throws is counted and leaves its metrics at their last values; the scrape succeeds', async () => {
  const metrics = new DaemonMetrics({ processMetrics: false });
  let failing = false;
  metrics.collectFrom({
    raft: () => {
      if (failing) throw new Error('raft node gone');
      return raftSample;
    },
    tasks: () => ({ running: 2 }),
  });
  await metrics.scrape();
  failing = true;
  const families = parsePrometheusText(await metrics.scrape());
  assert.equal(valueOf(families, 'warren_metrics_source_errors_total', { source: 'raft' }), 1);
  assert.equal(valueOf(families, 'warren_raft_term'), 7, 'last value kept');
  assert.equal(valueOf(families, 'warren_tasks', { state: 'running' }), 2, 'other sources still sampled');
});

test('two DaemonMetrics in one process keep their own values and leave the global registry alone', async () => {
  const globalBefore = await globalRegistry.metrics();
  const one = new DaemonMetrics({ nodeId: 'm1' });
  const two = new DaemonMetrics({ nodeId: 'm2' });
  one.setRaft(raftSample);
  two.setRaft({ ...raftSample, term: 3, role: 'follower' });
  one.observeCommitLatency(0.01);
  const first = parsePrometheusText(await one.scrape());
  const second = parsePrometheusText(await two.scrape());
  assert.equal(valueOf(first, 'warren_raft_term', { node_id: 'm1' }), 7);
  assert.equal(valueOf(second, 'warren_raft_term', { node_id: 'm2' }), 3);
  assert.equal(valueOf(first, 'warren_raft_commit_latency_seconds_count', { node_id: 'm1' }), 1);
  assert.equal(valueOf(second, 'warren_raft_commit_latency_seconds_count', { node_id: 'm2' }), 0);
  assert.equal(await globalRegistry.metrics(), globalBefore);
});
