// Real processes for the real-shell benchmarks: free loopback ports, child processes whose output is
// kept (bounded) and whose exit can be awaited, and a cluster of `node bin/warren.mjs` managers in a
// temporary directory that can be started, asked for its leader, have a manager killed with SIGKILL
// and restarted with `manager start`, and stopped.
// Invariants: every child process and temporary directory made here is registered until it is gone,
// and whatever ends the benchmark (a normal return, a thrown error, SIGINT/SIGTERM/SIGHUP, process
// exit) kills the children that are left with SIGKILL and removes the directories. Only processes
// started here are ever signalled, each by its own pid.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, waitFor } from '../adapters/daemon/process-cluster.ts';
import { ApiClient, type ApiClientOptions } from '../adapters/grpc/api-client.ts';
import type { ClusterInfoResponse } from '../adapters/grpc/api-types.ts';
import { round } from './timing.ts';

// The waiting and port helpers are the integration tests' (adapters/daemon/process-cluster.ts).
export { freePorts, sleep, waitFor } from '../adapters/daemon/process-cluster.ts';

// ---------------------------------------------------------------------------------------------
// Cleanup whatever happens

const liveChildren = new Set<ChildProcess>();
const liveDirectories = new Set<string>();
let hooksInstalled = false;

/** Kills every child still registered (SIGKILL) and removes every registered directory; synchronous, so it runs in an exit hook. */
export function cleanUpNow(): void {
  for (const child of liveChildren) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  liveChildren.clear();
  for (const directory of liveDirectories) rmSync(directory, { recursive: true, force: true });
  liveDirectories.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', cleanUpNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanUpNow();
      process.exit(128 + constants.signals[signal]);
    });
  }
}

/** A new temporary directory, removed by removeDirectory or by the cleanup hooks. */
export function makeTempDirectory(prefix: string): string {
  installHooks();
  const directory = mkdtempSync(join(tmpdir(), prefix));
  liveDirectories.add(directory);
  return directory;
}

export function removeDirectory(directory: string): void {
  rmSync(directory, { recursive: true, force: true });
  liveDirectories.delete(directory);
}

/** How many directories and children are registered (for tests of the cleanup). */
export function liveResources(): { readonly children: number; readonly directories: number } {
  return { children: liveChildren.size, directories: liveDirectories.size };
}

// ---------------------------------------------------------------------------------------------
// One child process

/** Bound on the output lines kept per child (for error messages). */
const keptLinesMax = 200;

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class TrackedProcess {
  private readonly lines: string[] = [];
  readonly exited: Promise<ChildExit>;
  private exitSeen: ChildExit | null = null;

  private constructor(readonly label: string, readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        liveChildren.delete(child);
        this.exitSeen = { code, signal };
        resolve(this.exitSeen);
      });
    });
    // Both pipes are always read: a child blocks once a pipe's buffer is full.
    this.follow(child.stdout);
    this.follow(child.stderr);
  }

  static spawn(label: string, command: string, args: readonly string[], options: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv } = {}): TrackedProcess {
    installHooks();
    const child = spawn(command, [...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    liveChildren.add(child);
    child.once('error', () => {}); // a failed spawn also emits 'exit' (code null); the error is in the output below
    return new TrackedProcess(label, child);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.label} has no pid: it failed to start`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitSeen === null;
  }

  get exit(): ChildExit | null {
    return this.exitSeen;
  }

  /** The last `count` output lines, for an error message. */
  recentOutput(count = 15): string {
    return this.lines.slice(-count).join('\n');
  }

  /** kill -9, and wait until the process is gone. */
  async kill9(): Promise<ChildExit> {
    if (this.running) this.child.kill('SIGKILL');
    return this.exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves to how it exited. */
  async stop(graceMs = 5000): Promise<ChildExit> {
    if (!this.running) return this.exited;
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
    const first = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (first === 'late') this.child.kill('SIGKILL');
    return this.exited;
  }

  private follow(stream: NodeJS.ReadableStream | null): void {
    if (stream === null) return;
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        this.addLine(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
      }
      // A line longer than this is kept in pieces rather than growing the buffer without bound.
      if (buffered.length > 64 * 1024) {
        this.addLine(buffered);
        buffered = '';
      }
    });
  }

  private addLine(line: string): void {
    this.lines.push(line);
    if (this.lines.length > keptLinesMax) this.lines.splice(0, this.lines.length - keptLinesMax);
  }
}

export interface ProcessMemory {
  readonly rssMb: number;
  readonly peakRssMb: number;
  /** Of rssMb: anonymous memory (heaps, stacks) and mapped files (the node binary, shared with other processes). */
  readonly anonymousMb: number;
  readonly fileMb: number;
}

/** Resident set size, its peak and its parts, in MiB, from /proc (Linux). */
export function processMemoryMb(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (match === null) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(match[1]);
  };
  return { rssMb: round(kb('VmRSS') / 1024, 1), peakRssMb: round(kb('VmHWM') / 1024, 1), anonymousMb: round(kb('RssAnon') / 1024, 1), fileMb: round(kb('RssFile') / 1024, 1) };
}


/** Prometheus text format → series → value (comments and malformed lines skipped). */
export function parseMetrics(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    const value = Number(line.slice(at + 1));
    if (at > 0 && !Number.isNaN(value)) series.set(line.slice(0, at), value);
  }
  return series;
}

/** The sum of every series of metric `name` whose labels contain each of `labelParts` (e.g. 'method="SecretCreate"'). */
export function metricTotal(series: ReadonlyMap<string, number>, name: string, ...labelParts: readonly string[]): number {
  let total = 0;
  for (const [key, value] of series) {
    const brace = key.indexOf('{');
    const metric = brace < 0 ? key : key.slice(0, brace);
    if (metric === name && labelParts.every((part) => key.includes(part))) total += value;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// A cluster of warren managers

const warrenBin = new URL('../bin/warren.mjs', import.meta.url).pathname;

export interface ManagerMember {
  readonly id: string;
  readonly dataDir: string;
  /** host:port of Raft, the worker protocol and the client API. */
  readonly listen: string;
  /** host:port of /live /ready /health /metrics. */
  readonly metricsListen: string;
  /** The running process; null while killed. */
  process: TrackedProcess | null;
}

export interface RealClusterOptions {
  readonly size?: number;
  /** Bound on starting (or restarting) a manager until the cluster has a leader. */
  readonly startTimeoutMs?: number;
  readonly progress?: (line: string) => void;
}

export class RealCluster {
  private readonly clients = new Set<ApiClient>();
  private stopped = false;

  private constructor(
    readonly root: string,
    readonly members: readonly ManagerMember[],
    private readonly startTimeoutMs: number,
    private readonly progress: (line: string) => void,
  ) {}

  /** Starts `size` managers with `cluster init`, each with the others as peers, and waits for a leader every manager knows. */
  static async start(options: RealClusterOptions = {}): Promise<RealCluster> {
    const size = options.size ?? 3;
    const host = '127.0.0.1';
    const root = makeTempDirectory('warren-bench-');
    const ports = await freePorts(size * 2);
    const members: ManagerMember[] = Array.from({ length: size }, (_, i) => ({
      id: `m${i + 1}`,
      dataDir: join(root, `m${i + 1}`),
      listen: `${host}:${ports[2 * i]!}`,
      metricsListen: `${host}:${ports[2 * i + 1]!}`,
      process: null,
    }));
    const cluster = new RealCluster(root, members, options.startTimeoutMs ?? 60_000, options.progress ?? (() => {}));
    try {
      writeFileSync(cluster.keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
      for (const member of members) cluster.spawnManager(member, 'init');
      const leader = await cluster.leader();
      await cluster.waitFor('every manager to know the leader', async () => {
        for (const member of members) {
          const info = await cluster.infoOf(member);
          if (info.leader?.id !== leader.id) return undefined;
        }
        return true;
      });
      cluster.progress(`real-cluster: ${size} managers up in ${root}, leader ${leader.id}`);
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  apiAddresses(): string[] {
    return this.members.map((member) => member.listen);
  }

  member(id: string): ManagerMember {
    const member = this.members.find((m) => m.id === id);
    if (member === undefined) throw new Error(`no manager ${id}; managers: ${this.members.map((m) => m.id).join(', ')}`);
    return member;
  }

  /** An API client closed by stop(); addresses default to every manager's. */
  client(options: Partial<ApiClientOptions> = {}): ApiClient {
    const client = new ApiClient({ addresses: this.apiAddresses(), ...options });
    this.clients.add(client);
    return client;
  }

  closeClient(client: ApiClient): void {
    client.close();
    this.clients.delete(client);
  }

  /** The leader, as the leader itself says (ClusterInfo served by the leader), waiting for one. */
  async leader(timeoutMs = this.startTimeoutMs): Promise<ManagerMember> {
    const client = this.client({ connectTimeoutMs: 500, timeoutMs: 2000 });
    try {
      return await this.waitFor('a leader', async () => {
        const info = await client.call('ClusterInfo', { leaderOnly: true });
        const member = this.members.find((m) => m.id === info.servedBy);
        return member?.process?.running === true ? member : undefined;
      }, timeoutMs);
    } finally {
      this.closeClient(client);
    }
  }

  /** ClusterInfo as `member` itself answers it. */
  async infoOf(member: ManagerMember, timeoutMs = 2000): Promise<ClusterInfoResponse> {
    const client = this.client({ addresses: [member.listen], connectTimeoutMs: Math.min(timeoutMs, 1000), timeoutMs });
    try {
      return await client.call('ClusterInfo', {});
    } finally {
      this.closeClient(client);
    }
  }

  /** The samples of `member`'s /metrics: series (name with its labels, as printed) → value. */
  async metricsOf(member: ManagerMember): Promise<Map<string, number>> {
    const response = await fetch(`http://${member.metricsListen}/metrics`, { signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`GET /metrics of manager ${member.id}: HTTP ${response.status}`);
    return parseMetrics(await response.text());
  }

  /** kill -9 of one manager; resolves once it is gone. */
  async kill9(id: string): Promise<void> {
    const member = this.member(id);
    if (member.process === null) throw new Error(`manager ${id} is not running`);
    await member.process.kill9();
    member.process = null;
  }

  /** Restarts a killed manager on its data directory with `manager start`; resolves once it answers ClusterInfo. */
  async restart(id: string): Promise<void> {
    const member = this.member(id);
    if (member.process !== null) throw new Error(`manager ${id} is still running`);
    this.spawnManager(member, 'start');
    await this.waitFor(`manager ${id} to answer after its restart`, async () => (await this.infoOf(member, 1000)).servedBy === id || undefined);
  }

  /** Waits until `id` has applied at least up to the leader's commit index (taken once, now). */
  async waitCaughtUp(id: string, timeoutMs = this.startTimeoutMs): Promise<{ readonly appliedIndex: number; readonly leaderCommitIndex: number }> {
    const leader = await this.leader(timeoutMs);
    const leaderCommitIndex = (await this.infoOf(leader)).commitIndex;
    const member = this.member(id);
    const appliedIndex = await this.waitFor(`manager ${id} to apply up to the leader's commit index ${leaderCommitIndex}`, async () => {
      const info = await this.infoOf(member);
      return info.appliedIndex >= leaderCommitIndex ? info.appliedIndex : undefined;
    }, timeoutMs);
    return { appliedIndex, leaderCommitIndex };
  }

  /** SIGTERM to every manager (SIGKILL after a grace period), clients closed, the directory removed; safe to call twice. */
  async stop(graceMs = 5000): Promise<Record<string, ChildExit>> {
    if (this.stopped) return {};
    this.stopped = true;
    for (const client of this.clients) client.close();
    this.clients.clear();
    const exits: Record<string, ChildExit> = {};
    await Promise.all(this.members.map(async (member) => {
      if (member.process === null) return;
      exits[member.id] = await member.process.stop(graceMs);
      member.process = null;
    }));
    removeDirectory(this.root);
    return exits;
  }

  private get keyFile(): string {
    return join(this.root, 'cluster.key');
  }

  private spawnManager(member: ManagerMember, how: 'init' | 'start'): void {
    const peers = this.members.filter((m) => m !== member).map((m) => `${m.id}=${m.listen}`).join(',');
    // Every initial manager seals secrets with the same cluster key; `manager start` reads it from its data directory.
    const command = how === 'init' ? ['cluster', 'init', '--secret-key-file', this.keyFile] : ['manager', 'start'];
    const args = [warrenBin, ...command, '--id', member.id, '--data-dir', member.dataDir, '--listen', member.listen, '--peers', peers, '--metrics-listen', member.metricsListen];
    member.process = TrackedProcess.spawn(`manager ${member.id}`, process.execPath, args);
  }

  /** waitFor, failing at once (with its output) if a manager that should run has exited; a timeout names every manager's last output. */
  private async waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = this.startTimeoutMs): Promise<T> {
    const fatal = (): Error | null => {
      const dead = this.members.find((m) => m.process !== null && !m.process.running);
      return dead === undefined ? null : new ManagerExitedError(dead);
    };
    try {
      return await waitFor(what, check, timeoutMs, { fatal });
    } catch (error) {
      if (error instanceof ManagerExitedError) throw error;
      const outputs = this.members.map((m) => `--- ${m.id}:\n${m.process?.recentOutput(5) ?? '(not running)'}`).join('\n');
      throw new Error(`${(error as Error).message}\n${outputs}`);
    }
  }
}

export class ManagerExitedError extends Error {
  constructor(member: ManagerMember) {
    const exit = member.process?.exit;
    super(`manager ${member.id} exited (code ${String(exit?.code)}, signal ${String(exit?.signal)}); its last output:\n${member.process?.recentOutput() ?? ''}`);
  }
}
