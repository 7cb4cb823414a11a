// The real-shell benchmarks' machinery, quickly: the cluster harness drives real managers through a
// kill -9 of the leader and a restart and leaves nothing behind; a SIGINT to a benchmark kills its
// children and removes its directories; the closed-loop driver counts only acknowledged writes; the
// hand-written etcd protobuf and the /metrics parser read what they should. No timing is asserted.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { decodeFields, decodeStatusResponse, EtcdClient, EtcdCluster, encodePutRequest, etcdInstalled } from './etcd.ts';
import { driveLoad } from './raft-real.ts';
import { liveResources, metricTotal, parseMetrics, RealCluster } from './real-cluster.ts';

/** Whether `pid` runs (a zombie does not). */
function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('real cluster harness', () => {
  it('finds the leader, kills it with SIGKILL, restarts it with manager start until caught up, and stops leaving nothing', { timeout: 60_000 }, async () => {
    const cluster = await RealCluster.start();
    const pids = cluster.members.map((m) => m.process!.pid);
    try {
      const leader = await cluster.leader();
      const client = cluster.client();
      const created = await client.call('SecretCreate', { name: 'harness', value: 'x'.repeat(256) });
      assert.equal(created.servedBy, leader.id);
      const leaderPid = leader.process!.pid;
      await cluster.kill9(leader.id);
      assert.equal(running(leaderPid), false);
      const next = await cluster.leader();
      assert.notEqual(next.id, leader.id);
      await client.call('SecretRemove', { id: created.id });
      await cluster.restart(leader.id);
      const caughtUp = await cluster.waitCaughtUp(leader.id);
      assert.ok(caughtUp.appliedIndex >= caughtUp.leaderCommitIndex);
      assert.ok(caughtUp.leaderCommitIndex >= created.appliedIndex + 1, 'the remove made after the kill is included');
      pids.push(cluster.member(leader.id).process!.pid);
    } finally {
      const exits = await cluster.stop();
      assert.deepEqual(Object.values(exits).map((e) => e.code), [0, 0, 0], 'SIGTERM stops every manager with exit 0');
    }
    assert.equal(existsSync(cluster.root), false);
    assert.deepEqual(pids.filter(running), []);
    assert.deepEqual(liveResources(), { children: 0, directories: 0 });
  });

  it('SIGINT to a benchmark kills the children it started and removes its temporary directories', { timeout: 20_000 }, async () => {
    const script = `
      const { makeTempDirectory, TrackedProcess } = await import(${JSON.stringify(new URL('./real-cluster.ts', import.meta.url).href)});
      const directory = makeTempDirectory('warren-bench-sigint-');
      const child = TrackedProcess.spawn('sleeper', 'sleep', ['30']);
      console.log(JSON.stringify({ directory, pid: child.pid }));
      setInterval(() => {}, 1000);`;
    const benchmark = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      benchmark.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]!);
      });
      benchmark.once('exit', (code) => reject(new Error(`the benchmark process exited early (${String(code)})`)));
    });
    const started = JSON.parse(line) as { directory: string; pid: number };
    try {
      assert.ok(running(started.pid) && existsSync(started.directory));
      const exited = new Promise<number | null>((resolve) => benchmark.once('exit', (code) => resolve(code)));
      benchmark.kill('SIGINT');
      assert.equal(await exited, 130);
      assert.equal(running(started.pid), false, 'its child was killed');
      assert.equal(existsSync(started.directory), false, 'its directory was removed');
    } finally {
      // When the check fails, what the benchmark left is this test's to remove.
      if (running(started.pid)) process.kill(started.pid, 'SIGKILL');
      rmSync(started.directory, { recursive: true, force: true });
    }
  });
});

describe('closed-loop load', () => {
  it('counts acknowledged writes inside the window and failures by status, never a failure as a write', async () => {
    let calls = 0;
    const result = await driveLoad(4, { warmUpMs: 50, measureMs: 300 }, () => async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 2));
      if (calls % 3 === 0) throw Object.assign(new Error('refused'), { code: 8 });
    });
    assert.ok(result.writes > 0);
    assert.equal(result.writesPerSecond, Math.round((result.writes / 0.3) * 10) / 10);
    assert.ok((result.errors.RESOURCE_EXHAUSTED ?? 0) > 0, JSON.stringify(result.errors));
    assert.ok(result.writes + result.errors.RESOURCE_EXHAUSTED! <= calls, 'nothing counted twice');
    assert.ok(result.p50Ms >= 1 && result.p99Ms >= result.p50Ms && result.maxMs >= result.p99Ms);
  });
});

describe('etcd client', () => {
  it('encodes a PutRequest as protobuf fields 1 (key) and 2 (value)', () => {
    assert.deepEqual([...encodePutRequest(Buffer.from('k'), Buffer.from('vv'))], [0x0a, 1, 0x6b, 0x12, 2, 0x76, 0x76]);
    const long = encodePutRequest(Buffer.from('key'), Buffer.alloc(256, 1));
    assert.deepEqual([...long.subarray(5, 8)], [0x12, 0x80, 0x02], 'a 256-byte length is a two-byte varint');
    const fields = decodeFields(long);
    assert.deepEqual(fields.get(1), [Buffer.from('key')]);
    assert.equal((fields.get(2)![0] as Buffer).length, 256);
  });

  it('reads the member and leader ids (full 64-bit) of a StatusResponse, and which member leads', () => {
    // header {cluster_id: 1, member_id: 2^63 + 5}, version "3.4", leader 2^63 + 5, raftIndex 300
    const big = [0x85, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
    const header = [0x08, 0x01, 0x10, ...big];
    const message = Buffer.from([0x0a, header.length, ...header, 0x12, 3, 0x33, 0x2e, 0x34, 0x20, ...big, 0x28, 0xac, 0x02]);
    assert.deepEqual(decodeStatusResponse(message), { memberId: 2n ** 63n + 5n, leaderId: 2n ** 63n + 5n, raftIndex: 300n });
    assert.throws(() => decodeFields(Buffer.from([0x12, 5, 1])), /runs past the end/);
  });

  const etcd = etcdInstalled();
  it('three real etcd members take a Put at their leader', { skip: etcd === null && 'etcd is not installed', timeout: 30_000 }, async () => {
    const cluster = await EtcdCluster.start(etcd!.path);
    try {
      const leader = await cluster.leader();
      const client = new EtcdClient(leader.clientAddress);
      try {
        await client.put(Buffer.from('bench-test'), Buffer.alloc(256, 0x61));
        assert.equal((await client.status()).leaderId, (await client.status()).memberId);
      } finally {
        client.close();
      }
    } finally {
      await cluster.stop();
    }
    assert.equal(existsSync(cluster.root), false);
  });
});

describe('metrics text', () => {
  it('sums the series of one metric whose labels contain every part given', () => {
    const series = parseMetrics([
      '# HELP x_count help',
      'x_count{node_id="m1",method="SecretCreate",code="0"} 5',
      'x_count{node_id="m1",method="SecretRemove",code="0"} 4',
      'x_count{node_id="m1",method="SecretCreate",code="8"} 2',
      'x_count_total 100',
      'x_sum 0.5',
    ].join('\n'));
    assert.equal(metricTotal(series, 'x_count'), 11);
    assert.equal(metricTotal(series, 'x_count', 'method="Secret', 'code="0"'), 9);
    assert.equal(metricTotal(series, 'x_sum'), 0.5);
  });
});
