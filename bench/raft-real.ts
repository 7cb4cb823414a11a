// `npm run bench -- raft-real`: committed writes per second and their latency on a real 3-manager
// cluster (`node bin/warren.mjs` processes on loopback, the WAL fsyncing every commit), at 1, 16 and
// 64 concurrent clients, and, where etcd is installed, the same load on 3 etcd members beside it.
// A warren write is a SecretCreate with a 256-byte value, then a SecretRemove of it: each one
// committed Raft entry, counted once acknowledged, and the store stays small. An etcd write is a
// KV.Put of a 256-byte value to a new key. Both go to the leader (found first), with one gRPC
// channel per 8 clients; a client has one call in flight at a time, closed loop. Each system is
// called the way its own client calls it: etcd's KV.Put is a unary gRPC call; Warren's ApiClient
// sends its calls over one Calls stream per channel (adapters/grpc/api-calls.ts).
// Each level runs a warm-up (not counted), then a measured window: writes acknowledged within it
// per second, and the latency of those writes. Failed writes are counted by status, never as
// committed, and the client backs off (by the server's retry hint when it gives one).
// The two clusters run one after the other, never at once; the benchmark client runs on the same
// machine, so its CPU (reported per level) is taken from the servers'.

import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { ApiError } from '../adapters/grpc/api-errors.ts';
import type { ApiClient } from '../adapters/grpc/api-client.ts';
import type { BenchmarkArgs } from './cli.ts';
import { EtcdClient, EtcdCluster, etcdInstalled } from './etcd.ts';
import { integerParameters } from './parameters.ts';
import { makeTempDirectory, metricTotal, RealCluster, removeDirectory, sleep } from './real-cluster.ts';
import { percentile } from './sim.ts';
import { round } from './timing.ts';

export interface RaftRealParameters {
  /** Concurrent clients of each level, in order. */
  readonly clientLevels: readonly number[];
  readonly warmUpMs: number;
  readonly measureMs: number;
  readonly clientsPerChannel: number;
  readonly valueBytes: number;
  /** 0: leave etcd out even when installed. */
  readonly withEtcd: number;
}

export const defaultRaftRealParameters: RaftRealParameters = {
  clientLevels: [1, 16, 64],
  warmUpMs: 1000,
  measureMs: 8000,
  clientsPerChannel: 8,
  valueBytes: 256,
  withEtcd: 1,
};

export function raftRealParameters(overrides: Partial<RaftRealParameters>): RaftRealParameters {
  const parameters = integerParameters('raft-real', defaultRaftRealParameters, overrides, ['withEtcd']);
  if (parameters.clientLevels.length === 0 || !parameters.clientLevels.every((n) => Number.isInteger(n) && n >= 1 && n <= 1024)) {
    throw new RangeError(`raft-real benchmark parameter clientLevels must be integers from 1 to 1024, got ${JSON.stringify(parameters.clientLevels)}`);
  }
  return parameters;
}

export async function run(args: BenchmarkArgs, overrides: Partial<RaftRealParameters> = {}): Promise<Record<string, unknown>> {
  const parameters = raftRealParameters(overrides);
  const machine = machineFacts();
  args.progress(`raft-real: fsync of ${parameters.valueBytes} bytes on ${machine.filesystem}: p50 ${machine.fsyncP50Ms} ms`);
  const warren = await measureWarren(parameters, args.progress);
  const etcdBinary = parameters.withEtcd === 0 ? null : etcdInstalled();
  const etcd = etcdBinary === null ? null : await measureEtcd(etcdBinary.path, etcdBinary.version, parameters, args.progress);
  return {
    warren,
    etcd,
    etcdInstalled: etcdBinary !== null,
    ...(etcd === null ? { etcdNote: parameters.withEtcd === 0 ? 'etcd left out (withEtcd 0)' : 'etcd is not installed (Debian: apt-get install etcd-server); only warren was measured' } : {}),
    valueBytes: parameters.valueBytes,
    warmUpSeconds: parameters.warmUpMs / 1000,
    measureSeconds: parameters.measureMs / 1000,
    machine,
  };
}

// ---------------------------------------------------------------------------------------------
// The closed-loop load

/** One committed write; throws when it was not acknowledged. */
export type Write = () => Promise<unknown>;

export interface LevelResult {
  readonly writesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
  readonly writes: number;
  /** Failed writes within the window, by status. */
  readonly errors: Readonly<Record<string, number>>;
}

/**
 * `clients` loops, each with one write in flight, for warmUpMs + measureMs; counts the writes
 * acknowledged inside the measured window and their latencies. Resolves once every loop ended.
 */
export async function driveLoad(clients: number, timing: { readonly warmUpMs: number; readonly measureMs: number }, writer: (client: number) => Write): Promise<LevelResult> {
  const windowStartMs = performance.now() + timing.warmUpMs;
  const windowEndMs = windowStartMs + timing.measureMs;
  const latenciesMs: number[] = [];
  const errors: Record<string, number> = {};
  const loop = async (client: number): Promise<void> => {
    const write = writer(client);
    while (performance.now() < windowEndMs) {
      const sentMs = performance.now();
      try {
        await write();
        const ackedMs = performance.now();
        if (ackedMs >= windowStartMs && ackedMs <= windowEndMs) latenciesMs.push(ackedMs - sentMs);
      } catch (error) {
        const failedMs = performance.now();
        if (failedMs >= windowStartMs && failedMs <= windowEndMs) errors[failureName(error)] = (errors[failureName(error)] ?? 0) + 1;
        await sleep(error instanceof ApiError && error.retryAfterMs !== null ? error.retryAfterMs : 10);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, client) => loop(client)));
  const empty = latenciesMs.length === 0;
  return {
    writesPerSecond: round(latenciesMs.length / (timing.measureMs / 1000), 1),
    p50Ms: empty ? NaN : round(percentile(latenciesMs, 0.5), 2),
    p99Ms: empty ? NaN : round(percentile(latenciesMs, 0.99), 2),
    maxMs: empty ? NaN : round(Math.max(...latenciesMs), 2),
    meanMs: empty ? NaN : round(latenciesMs.reduce((sum, ms) => sum + ms, 0) / latenciesMs.length, 2),
    writes: latenciesMs.length,
    errors,
  };
}

export function failureName(error: unknown): string {
  if (error instanceof ApiError) return error.outcome === null ? error.codeName : `${error.codeName} (outcome ${error.outcome})`;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'number' && grpc.status[code] !== undefined) return grpc.status[code]!;
  return (error as Error).name ?? 'Error';
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime), counted from the state field (3): indexes 11 and 12; USER_HZ is 100 on Linux.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs one level and reports the cores each server process and this benchmark used during it. */
async function measuredLevel(clients: number, parameters: RaftRealParameters, servers: { readonly leader: number; readonly followers: readonly number[] }, writer: (client: number) => Write): Promise<LevelResult & { readonly cpuCores: Record<string, number> }> {
  const wallStartMs = performance.now();
  const before = { leader: processCpuSeconds(servers.leader), followers: servers.followers.map(processCpuSeconds), self: process.cpuUsage() };
  const result = await driveLoad(clients, parameters, writer);
  const wallSeconds = (performance.now() - wallStartMs) / 1000;
  const self = process.cpuUsage(before.self);
  const cpuCores = {
    leader: round((processCpuSeconds(servers.leader) - before.leader) / wallSeconds, 2),
    followersMax: round(Math.max(...servers.followers.map((pid, i) => (processCpuSeconds(pid) - before.followers[i]!) / wallSeconds)), 2),
    benchmarkClient: round((self.user + self.system) / 1e6 / wallSeconds, 2),
  };
  return { ...result, cpuCores };
}

// ---------------------------------------------------------------------------------------------
// warren

async function measureWarren(parameters: RaftRealParameters, progress: (line: string) => void): Promise<Record<string, unknown>> {
  const startMs = performance.now();
  const cluster = await RealCluster.start({ progress });
  try {
    const startSeconds = round((performance.now() - startMs) / 1000, 1);
    const leader = await cluster.leader();
    const addresses = [leader.listen, ...cluster.apiAddresses().filter((a) => a !== leader.listen)];
    const servers = { leader: leader.process!.pid, followers: cluster.members.filter((m) => m !== leader).map((m) => m.process!.pid) };
    const value = randomBytes(parameters.valueBytes).toString('base64').slice(0, parameters.valueBytes);
    const levels: Record<string, unknown> = {};
    for (const clients of parameters.clientLevels) {
      const channels = Array.from({ length: Math.ceil(clients / parameters.clientsPerChannel) }, () => cluster.client({ addresses }));
      try {
        const writer = (client: number): Write => secretWriter(channels[Math.floor(client / parameters.clientsPerChannel)]!, `c${clients}-${client}`, value);
        const metricsBefore = await cluster.metricsOf(leader);
        const result = await measuredLevel(clients, parameters, servers, writer);
        const leaderView = leaderMetrics(metricsBefore, await cluster.metricsOf(leader), result.writes);
        levels[`clients${clients}`] = { ...result, leaderView };
        progress(`raft-real: warren, ${clients} clients: ${result.writesPerSecond} writes/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, errors ${JSON.stringify(result.errors)}`);
      } finally {
        for (const channel of channels) cluster.closeClient(channel);
      }
    }
    const stillLeader = await cluster.leader();
    return {
      ...levels,
      managers: cluster.members.length,
      target: 'the leader (ApiClient with the leader first, then the followers)',
      write: `SecretCreate of a ${parameters.valueBytes}-byte value, then SecretRemove of it: one committed write each`,
      leaderChanged: stillLeader.id !== leader.id,
      clusterStartSeconds: startSeconds,
    };
  } finally {
    await cluster.stop();
  }
}

/**
 * What the leader's /metrics say about a level (warm-up included, so means, not the window's
 * exact figures): where a write's time goes on the server, and how many writes share an fsync.
 */
function leaderMetrics(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>, writesInWindow: number): Record<string, number> {
  const delta = (name: string, ...labelParts: string[]): number => metricTotal(after, name, ...labelParts) - metricTotal(before, name, ...labelParts);
  const meanMs = (histogram: string, ...labelParts: string[]): number => round((1000 * delta(`${histogram}_sum`, ...labelParts)) / Math.max(1, delta(`${histogram}_count`, ...labelParts)), 2);
  const secretCalls = delta('warren_api_request_duration_seconds_count', 'method="Secret');
  return {
    apiMeanMs: meanMs('warren_api_request_duration_seconds', 'method="Secret', 'code="0"'),
    commitLatencyMeanMs: meanMs('warren_raft_commit_latency_seconds'),
    applyLatencyMeanMs: meanMs('warren_raft_apply_latency_seconds'),
    walFsyncMeanMs: meanMs('warren_wal_fsync_duration_seconds'),
    walFsyncs: delta('warren_wal_fsync_duration_seconds_count'),
    secretCalls,
    secretCallsRefused: secretCalls - delta('warren_api_request_duration_seconds_count', 'method="Secret', 'code="0"'),
    writesInWindow,
  };
}

/** Alternates SecretCreate of a new secret and SecretRemove of it; each write resolves to the manager that served it. */
export function secretWriter(client: ApiClient, prefix: string, value: string): () => Promise<string> {
  let sequence = 0;
  let toRemove: string | null = null;
  return async () => {
    if (toRemove !== null) {
      const id = toRemove;
      toRemove = null; // a failed remove leaves one secret behind rather than retrying an unknown outcome
      return (await client.call('SecretRemove', { id })).servedBy;
    }
    const created = await client.call('SecretCreate', { name: `bench-${prefix}-${sequence++}`, value });
    toRemove = created.id;
    return created.servedBy;
  };
}

// ---------------------------------------------------------------------------------------------
// etcd

async function measureEtcd(path: string, version: string, parameters: RaftRealParameters, progress: (line: string) => void): Promise<Record<string, unknown>> {
  const startMs = performance.now();
  const cluster = await EtcdCluster.start(path);
  try {
    const startSeconds = round((performance.now() - startMs) / 1000, 1);
    const leader = await cluster.leader();
    progress(`raft-real: etcd ${version}: 3 members up, leader ${leader.name}`);
    const servers = { leader: leader.process.pid, followers: cluster.members.filter((m) => m !== leader).map((m) => m.process.pid) };
    const value = Buffer.from(randomBytes(parameters.valueBytes).toString('base64').slice(0, parameters.valueBytes));
    const levels: Record<string, unknown> = {};
    for (const clients of parameters.clientLevels) {
      const channels = Array.from({ length: Math.ceil(clients / parameters.clientsPerChannel) }, () => new EtcdClient(leader.clientAddress));
      try {
        const writer = (client: number): Write => {
          const channel = channels[Math.floor(client / parameters.clientsPerChannel)]!;
          let sequence = 0;
          return () => channel.put(Buffer.from(`bench/c${clients}/${client}/${sequence++}`), value);
        };
        const result = await measuredLevel(clients, parameters, servers, writer);
        levels[`clients${clients}`] = result;
        progress(`raft-real: etcd, ${clients} clients: ${result.writesPerSecond} writes/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, errors ${JSON.stringify(result.errors)}`);
      } finally {
        for (const channel of channels) channel.close();
      }
    }
    return { ...levels, version, members: cluster.members.length, target: 'the leader', write: `KV.Put of a ${parameters.valueBytes}-byte value to a new key`, clusterStartSeconds: startSeconds };
  } finally {
    await cluster.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// The machine

/** What bounds these numbers besides the code: fsync latency and file system of the temporary directory, CPUs, memory, load. */
export function machineFacts(): Record<string, unknown> {
  const directory = makeTempDirectory('warren-bench-fsync-');
  try {
    const file = join(directory, 'probe');
    const fd = openSync(file, 'w');
    const samplesMs: number[] = [];
    try {
      const block = randomBytes(256);
      for (let i = 0; i < 100; i++) {
        const startMs = performance.now();
        writeSync(fd, block);
        fdatasyncSync(fd);
        samplesMs.push(performance.now() - startMs);
      }
    } finally {
      closeSync(fd);
    }
    return {
      fsyncP50Ms: round(percentile(samplesMs, 0.5), 3),
      fsyncP99Ms: round(percentile(samplesMs, 0.99), 3),
      filesystem: fileSystemOf(directory),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryMb: Math.round(totalmem() / (1024 * 1024)),
      loadAverage1m: round(loadavg()[0]!, 2),
    };
  } finally {
    removeDirectory(directory);
  }
}

/** The type of the file system holding `path` (the longest mount point that prefixes it), from /proc/mounts. */
function fileSystemOf(path: string): string {
  let best = { mount: '', type: 'unknown' };
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, mount, type] = line.split(' ');
    if (mount === undefined || type === undefined) continue;
    const prefixes = path === mount || path.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
    if (prefixes && mount.length >= best.mount.length) best = { mount, type };
  }
  return `${best.type} (${best.mount})`;
}

