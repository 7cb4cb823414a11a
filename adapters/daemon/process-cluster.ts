// A cluster of real Warren daemons for integration tests: managers and workers run as child
// processes of `bin/warren.mjs` on loopback ports, each in a data directory under one temporary
// root, and are killed with SIGKILL, stopped with SIGTERM and restarted on the same directory and
// ports. Every line a daemon writes is kept (bounded) so that a failing test prints the tail of each
// daemon's log; its JSON lines are parsed into events (`role`, `started`, `stopped`, ...).
// Invariants: cleanup() (also run on process exit) leaves nothing behind: every daemon it started
// and every task process of its workers is SIGKILLed, every tmpfs it mounted is unmounted and the
// temporary root is removed. Ports are picked below the kernel's ephemeral range, so no outgoing
// connection can take a daemon's port while the daemon is down, and checked free by binding them.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../grpc/api-client.ts';
import type { ClusterInfoResponse } from '../grpc/api-types.ts';
import { freePorts, killTaskProcessesUnder, taskProcessesUnder, type TaskProcess } from './process-cluster-os.ts';

export { fillDisk, freePorts, killTaskProcessesUnder, removeBallast, snapshotIndexOnDisk, taskProcessesUnder, tmpfsUnavailable, type TaskProcess } from './process-cluster-os.ts';

const bin = new URL('../../bin/warren.mjs', import.meta.url).pathname;

/** Bound on the log lines kept per daemon (all its starts together) and on parsed events per start. */
const maxLogLines = 4000;
const maxEvents = 20_000;

export type LogEvent = { readonly event?: string; readonly time?: string } & Record<string, unknown>;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` every `everyMs` until it returns a value other than undefined (a check that throws
 * counts as not yet); throws naming `what` (and the last error `check` threw) after `timeoutMs`,
 * or at once with the error `fatal` returns when it returns one.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  options: { readonly everyMs?: number; readonly fatal?: () => Error | null } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    const fatal = options.fatal?.() ?? null;
    if (fatal !== null) throw fatal;
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const why = lastError === null ? '' : ` (last error: ${(lastError as Error).message})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(options.everyMs ?? 50);
  }
}

/** Polls `check` until it holds (waitFor of a condition); resolves to the milliseconds it took. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000, intervalMs = 100): Promise<number> {
  const startMs = Date.now();
  await waitFor(what, async () => ((await check()) ? true : undefined), timeoutMs, { everyMs: intervalMs });
  return Date.now() - startMs;
}

/**
 * Waits until every manager in `ids()` answers ClusterInfo (through `info`) naming the same leader,
 * one of them that answers as the leader itself; returns it with the highest term seen.
 */
export async function agreedLeader(info: (id: string) => Promise<ClusterInfoResponse>, ids: () => readonly string[], timeoutMs = 15_000): Promise<{ id: string; term: number }> {
  let found: { id: string; term: number } | null = null;
  await until('one leader known to every running manager', async () => {
    const asked = ids();
    const infos = await Promise.all(asked.map((id) => info(id).catch(() => null)));
    if (infos.length === 0 || infos.some((i) => i === null || i.leader === null)) return false;
    const leaderId = infos[0]!.leader!.id;
    if (!infos.every((i) => i!.leader!.id === leaderId) || !infos.some((i) => i!.servedBy === leaderId)) return false;
    found = { id: leaderId, term: Math.max(...infos.map((i) => i!.term)) };
    return true;
  }, timeoutMs, 50);
  return found!;
}

// ---- daemons ----

export type DaemonKind = 'manager' | 'worker';

/** One daemon (manager or worker) across its starts: the child of the current start, its events, its log. */
export class Daemon {
  child: ChildProcess | null = null;
  starts = 0;
  /** Parsed JSON log lines of the current start. */
  events: LogEvent[] = [];
  private readonly lines: string[] = [];
  private exitPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: null, signal: null });

  constructor(
    readonly id: string,
    readonly kind: DaemonKind,
    readonly dataDir: string,
    /** Raft, workers and API (managers); 0 for workers. */
    readonly listenPort: number,
    readonly metricsPort: number,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.listenPort}`;
  }

  get metricsAddress(): string {
    return `127.0.0.1:${this.metricsPort}`;
  }

  running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  pid(): number {
    if (this.child?.pid === undefined) throw new Error(`${this.id} was never started`);
    return this.child.pid;
  }

  spawn(args: readonly string[]): void {
    if (this.running()) throw new Error(`${this.id} is already running`);
    this.starts++;
    this.events = [];
    this.keep(`--- start #${this.starts}: warren ${args.join(' ')}`);
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exitPromise = new Promise((resolve) => child.once('exit', (code, signal) => {
      this.keep(`--- exit: code ${code} signal ${signal}`);
      resolve({ code, signal });
    }));
    this.readLines(child.stdout!, (line) => {
      this.keep(line);
      if (!line.startsWith('{')) return;
      try {
        if (this.events.length < maxEvents) this.events.push(JSON.parse(line) as LogEvent);
      } catch {
        // not a JSON log line
      }
    });
    this.readLines(child.stderr!, (line) => this.keep(`stderr: ${line}`));
  }

  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exitPromise;
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill9(): Promise<void> {
    if (this.running()) this.child!.kill('SIGKILL');
    await this.exitPromise;
  }

  /** SIGTERM; resolves with the exit code once the daemon stopped (null if a signal ended it). */
  async terminate(): Promise<number | null> {
    if (this.running()) this.child!.kill('SIGTERM');
    return (await this.exitPromise).code;
  }

  find(event: string): LogEvent[] {
    return this.events.filter((e) => e.event === event);
  }

  tail(lines: number): string[] {
    return this.lines.slice(-lines);
  }

  private keep(line: string): void {
    this.lines.push(line);
    if (this.lines.length > maxLogLines) this.lines.splice(0, this.lines.length - maxLogLines);
  }

  private readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
    let buffer = '';
    stream.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        onLine(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    });
    stream.on('end', () => {
      if (buffer !== '') onLine(buffer);
    });
  }
}

export interface ProcessClusterOptions {
  /** Prefix of the temporary root's name. */
  readonly name: string;
  readonly managers: number;
  readonly workers?: number;
  /** --snapshot-every of every manager. */
  readonly snapshotEvery?: number;
  /** --heartbeat-ms of every worker (default 200). */
  readonly heartbeatMs?: number;
  /** Mount a tmpfs of this many MiB on every manager's data directory (the caller checks tmpfsUnavailable() first). */
  readonly managerTmpfsMb?: number;
}

/** A cluster of daemons as child processes. Create with ProcessCluster.create; always cleanup(). */
export class ProcessCluster {
  readonly managers = new Map<string, Daemon>();
  readonly workers = new Map<string, Daemon>();
  private readonly clients = new Map<string, ApiClient>();
  private readonly mounts: string[] = [];
  private readonly keyFile: string;
  private readonly onExit = (): void => this.killEverythingSync();
  private cleaned = false;

  private constructor(readonly root: string, private readonly options: ProcessClusterOptions) {
    this.keyFile = join(root, 'cluster.key');
    writeFileSync(this.keyFile, randomBytes(32).toString('hex'), { mode: 0o600 });
    process.on('exit', this.onExit);
  }

  static async create(options: ProcessClusterOptions): Promise<ProcessCluster> {
    const root = mkdtempSync(join(tmpdir(), `warren-${options.name}-`));
    const cluster = new ProcessCluster(root, options);
    try {
      const workers = options.workers ?? 0;
      const ports = await freePorts(options.managers * 2 + workers);
      for (let i = 0; i < options.managers; i++) {
        const id = `m${i + 1}`;
        const dataDir = join(root, id);
        mkdirSync(dataDir, { mode: 0o700 });
        if (options.managerTmpfsMb !== undefined) {
          execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${options.managerTmpfsMb}m,mode=0700`, 'tmpfs', dataDir], { stdio: 'pipe' });
          cluster.mounts.push(dataDir);
        }
        cluster.managers.set(id, new Daemon(id, 'manager', dataDir, ports[2 * i]!, ports[2 * i + 1]!));
      }
      for (let i = 0; i < workers; i++) {
        const id = `w${i + 1}`;
        cluster.workers.set(id, new Daemon(id, 'worker', join(root, id), 0, ports[2 * options.managers + i]!));
      }
    } catch (error) {
      await cluster.cleanup();
      throw error;
    }
    return cluster;
  }

  manager(id: string): Daemon {
    const d = this.managers.get(id);
    if (d === undefined) throw new Error(`no manager ${id}`);
    return d;
  }

  worker(id: string): Daemon {
    const d = this.workers.get(id);
    if (d === undefined) throw new Error(`no worker ${id}`);
    return d;
  }

  runningManagers(): Daemon[] {
    return [...this.managers.values()].filter((d) => d.running());
  }

  private managerArgs(d: Daemon): string[] {
    const peers = [...this.managers.values()].filter((p) => p !== d).map((p) => `${p.id}=${p.address}`).join(',');
    return ['--id', d.id, '--data-dir', d.dataDir, '--listen', d.address, '--metrics-listen', d.metricsAddress, '--peers', peers,
      ...(this.options.snapshotEvery === undefined ? [] : ['--snapshot-every', String(this.options.snapshotEvery)])];
  }

  /** `warren cluster init` (first start) or `warren manager start` (restart on its data directory). */
  startManager(id: string, mode: 'init' | 'restart'): Daemon {
    const d = this.manager(id);
    d.spawn(mode === 'init' ? ['cluster', 'init', ...this.managerArgs(d), '--secret-key-file', this.keyFile] : ['manager', 'start', ...this.managerArgs(d)]);
    return d;
  }

  /** `warren worker start` (the first start and a restart alike, on the same data directory). */
  startWorker(id: string): Daemon {
    const d = this.worker(id);
    const managers = [...this.managers.values()].map((m) => `${m.id}=${m.address}`).join(',');
    d.spawn(['worker', 'start', '--id', id, '--data-dir', d.dataDir, '--managers', managers, '--metrics-listen', d.metricsAddress,
      '--heartbeat-ms', String(this.options.heartbeatMs ?? 200)]);
    return d;
  }

  /** Starts every manager with cluster init and waits for a leader, then every worker and waits until all are ready nodes. */
  async startAll(timeoutMs = 30_000): Promise<void> {
    for (const id of this.managers.keys()) this.startManager(id, 'init');
    await this.leader(timeoutMs);
    for (const id of this.workers.keys()) this.startWorker(id);
    if (this.workers.size === 0) return;
    await until('every worker registered and ready', async () => {
      const { nodes } = await this.client().call('NodeList', { leaderOnly: true });
      return [...this.workers.keys()].every((id) => nodes.some((n) => n.id === id && n.status === 'ready'));
    }, timeoutMs);
  }

  /**
   * A machine lost: SIGKILL of the worker daemon and of every task process it started (each task
   * runs in a process group of its own, led by its shim, so the group is the unit to kill).
   */
  async killWorkerMachine(id: string): Promise<number> {
    const d = this.worker(id);
    await d.kill9();
    const killed = killTaskProcessesUnder(d.dataDir);
    await until(`the task processes of ${id} gone`, () => taskProcessesUnder(d.dataDir).length === 0, 5_000, 20);
    return killed;
  }

  /** The running program of each live task of worker `id`. */
  taskProcesses(id: string): TaskProcess[] {
    return taskProcessesUnder(this.worker(id).dataDir);
  }

  /** An API client over the given managers (default all), kept and closed by cleanup(). */
  client(ids: readonly string[] = [...this.managers.keys()], timeoutMs = 5_000): ApiClient {
    const key = `${ids.join(',')}/${timeoutMs}`;
    let client = this.clients.get(key);
    if (client === undefined) {
      client = new ApiClient({ addresses: ids.map((id) => this.manager(id).address), timeoutMs, connectTimeoutMs: 1_000 });
      this.clients.set(key, client);
    }
    return client;
  }

  /** ClusterInfo served by manager `id` itself. */
  info(id: string): Promise<ClusterInfoResponse> {
    return this.client([id], 2_000).call('ClusterInfo', {});
  }

  /**
   * Waits until every running manager (or those named) answers and names the same leader, one of
   * them (so a dead leader the others still name does not count); returns it with its term.
   */
  leader(timeoutMs = 15_000, among?: readonly string[]): Promise<{ id: string; term: number }> {
    return agreedLeader((id) => this.info(id), () => among ?? this.runningManagers().map((d) => d.id), timeoutMs);
  }

  /** One sample of a metric of manager `id` (see fetchMetric). */
  metric(id: string, name: string): Promise<number | null> {
    return fetchMetric(this.manager(id).metricsAddress, name);
  }

  /** The tail of every daemon's log, for a failing test. */
  logTail(lines = 60): string {
    const parts: string[] = [];
    for (const d of [...this.managers.values(), ...this.workers.values()]) {
      if (d.starts === 0) continue;
      parts.push(`==== ${d.kind} ${d.id} (starts ${d.starts}, ${d.running() ? `running, pid ${d.pid()}` : 'not running'}): last ${lines} lines ====`);
      parts.push(...d.tail(lines));
    }
    return parts.join('\n');
  }

  /** Runs `body`; if it throws, prints the tail of each daemon's log to stderr first. */
  async diagnose<T>(body: () => Promise<T>, lines = 60): Promise<T> {
    try {
      return await body();
    } catch (error) {
      process.stderr.write(`\n${this.logTail(lines)}\n`);
      throw error;
    }
  }

  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
    const daemons = [...this.managers.values(), ...this.workers.values()];
    await Promise.all(daemons.map((d) => Promise.race([d.kill9(), sleep(5_000)])));
    this.killEverythingSync();
    process.off('exit', this.onExit);
  }

  /** Synchronous, so that it also runs on process exit. */
  private killEverythingSync(): void {
    for (const d of [...this.managers.values(), ...this.workers.values()]) {
      if (d.running()) d.child!.kill('SIGKILL');
    }
    for (const d of this.workers.values()) killTaskProcessesUnder(d.dataDir);
    for (const dir of this.mounts.splice(0)) {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
      } catch {
        try {
          execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
        } catch {
          // left mounted: reported by rmSync below failing on it
        }
      }
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

export interface HealthBody {
  readonly status: string;
  readonly components: Record<string, { readonly healthy: boolean; readonly problems: readonly string[]; readonly details: Record<string, unknown> }>;
}

/** GET /health of the daemon whose metrics port is at `address`. */
export async function fetchHealth(address: string): Promise<{ httpStatus: number; body: HealthBody }> {
  const response = await fetch(`http://${address}/health`, { signal: AbortSignal.timeout(2_000) });
  return { httpStatus: response.status, body: (await response.json()) as HealthBody };
}

/** The value of the first series of metric `name` on /metrics at `address`, or null when absent. */
export async function fetchMetric(address: string, name: string): Promise<number | null> {
  const text = await (await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(2_000) })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
}
