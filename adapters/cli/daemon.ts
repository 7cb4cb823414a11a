// The daemon commands: `warren cluster init` (the first start of a manager of a new cluster, with its
// initial members), `warren manager start` (a manager restarting on its data directory) and
// `warren worker start`. Each runs in the foreground until SIGTERM or SIGINT, logging one JSON line
// per event on stdout, and then stops gracefully (listeners closed, the write in flight finished,
// the disk closed) and exits 0.
// Invariants: every option is validated before anything starts (a bad one exits 2 naming it and
// what is expected); `manager start` never bootstraps, so a manager pointed at the wrong (empty)
// directory refuses to start instead of founding a second cluster.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ManagerProcess } from '../daemon/manager-process.ts';
import * as grpc from '@grpc/grpc-js';
import { ApiClient } from '../grpc/api-client.ts';
import { ApiError } from '../grpc/api-errors.ts';
import { joinProof, SECRET_KEY_BYTES } from '../grpc/api-secrets.ts';
import { splitAddress } from '../daemon/address.ts';
import { hasManagerState, keyFileOf, readKey, writeKey } from './data-dir.ts';
import type { ManagerAddress } from '../grpc/api-types.ts';
import { createLogging, ShutdownCoordinator, standardSteps, type DaemonLogging, type NodeRole } from '../observability/index.ts';
import { defaultSessionConfig, WorkerProcess } from '../daemon/worker-process.ts';
import type { CliIo } from './main.ts';
import { addUpCommand } from './up.ts';

const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const ADDRESS = /^[^\s:]+:(\d{1,5})$/;

function parseId(text: string): string {
  if (!ID.test(text)) throw new InvalidArgumentError('expected a node id: lower-case letters, digits and dashes, at most 63, starting with a letter or digit');
  return text;
}

function parseAddress(text: string): string {
  const m = ADDRESS.exec(text);
  if (m === null || Number(m[1]) > 65535) throw new InvalidArgumentError('expected HOST:PORT, e.g. 127.0.0.1:4240');
  return text;
}

/** `id=HOST:PORT,...` */
function parseMembers(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(',')) {
    const [id, address, extra] = item.split('=');
    if (id === undefined || address === undefined || extra !== undefined || !ID.test(id) || !ADDRESS.test(address)) {
      throw new InvalidArgumentError(`"${item}" is not ID=HOST:PORT; expected a comma list like m2=10.0.0.2:4240,m3=10.0.0.3:4240`);
    }
    if (out[id] !== undefined) throw new InvalidArgumentError(`member ${id} is named twice`);
    out[id] = address;
  }
  return out;
}

function parseLabel(text: string, previous: Record<string, string> = {}): Record<string, string> {
  const [key, value, extra] = text.split('=');
  if (!key || value === undefined || extra !== undefined) throw new InvalidArgumentError(`"${text}" is not KEY=VALUE`);
  return { ...previous, [key]: value };
}

function positiveInt(what: string): (text: string) => number {
  return (text) => {
    const v = Number(text);
    if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(v) || v <= 0) throw new InvalidArgumentError(`expected ${what}: a positive integer`);
    return v;
  };
}

interface ManagerRaw {
  id: string;
  dataDir: string;
  clusterId: string;
  listen: string;
  advertise?: string;
  metricsListen?: string;
  peers?: Record<string, string>;
  secretKeyFile?: string;
  snapshotEvery: number;
  role: 'manager' | 'hybrid';
  cpuMillis: number;
  memoryMb: number;
  label?: Record<string, string>;
}

interface WorkerRaw {
  metricsListen: string;
  id: string;
  dataDir: string;
  clusterId: string;
  managers: Record<string, string>;
  cpuMillis: number;
  memoryMb: number;
  label?: Record<string, string>;
  advertise: string;
  heartbeatMs: number;
}

function managerOptions(command: Command): Command {
  return command
    .addOption(new Option('--id <ID>', 'this manager\'s node id').argParser(parseId).makeOptionMandatory())
    .requiredOption('--data-dir <DIR>', 'where the write-ahead log, snapshots and the cluster key live')
    .option('--cluster-id <NAME>', 'the cluster\'s name; peers of another cluster are refused', 'warren')
    .addOption(new Option('--listen <HOST:PORT>', 'address serving Raft, workers and the client API').argParser(parseAddress).default('127.0.0.1:4240'))
    .addOption(new Option('--advertise <HOST:PORT>', 'address the others reach this manager at (default: --listen)').argParser(parseAddress))
    .addOption(new Option('--metrics-listen <HOST:PORT>', '/live /ready /health /metrics (default: --listen\'s host, port + 5000)').argParser(parseAddress))
    .addOption(new Option('--peers <LIST>', 'the other managers: ID=HOST:PORT,... (their --listen)').argParser(parseMembers))
    .addOption(new Option('--role <ROLE>', 'manager, or hybrid: a manager that also runs tasks').choices(['manager', 'hybrid']).default('manager'))
    .addOption(new Option('--cpu-millis <N>', 'hybrid: CPU offered to tasks, in thousandths of a core').argParser(positiveInt('CPU millis')).default(4000))
    .addOption(new Option('--memory-mb <N>', 'hybrid: memory offered to tasks, in MiB').argParser(positiveInt('MiB')).default(4096))
    .addOption(new Option('--label <KEY=VALUE>', 'hybrid: a node label for placement constraints; repeatable').argParser(parseLabel))
    .addOption(new Option('--snapshot-every <N>', 'snapshot the store and compact the log every N applied entries').argParser(positiveInt('entries')).default(10_000));
}

/** The metrics address: given, or the listen host with the port + 5000 (4240 → 9240). */
function metricsAddress(listen: string, given: string | undefined): string {
  if (given !== undefined) return given;
  const { host, port } = splitAddress(listen);
  return `${host}:${port === 0 ? 0 : (port + 5000) % 65536}`;
}

function daemonLogging(io: CliIo, nodeId: string, role: NodeRole): DaemonLogging {
  const destination = io.stdout === process.stdout ? 1 : { write: (line: string) => io.stdout.write(line) };
  return createLogging({ nodeId, role, destination });
}

/** The daemon's steps when it stops: stop taking requests, hand leadership over, close the disk, flush. */
interface Stoppable {
  /** Resolves when the daemon should stop of its own accord (a manager removed from its cluster). */
  readonly removed?: Promise<void>;
  stopAccepting?(reason: string): Promise<void>;
  isLeader?(): boolean;
  transferLeadership?(signal: AbortSignal): Promise<void>;
  stop(): Promise<void> | void;
}

/** Runs until SIGTERM or SIGINT and a graceful shutdown; resolves to the exit code. */
async function runUntilSignal(io: CliIo, logging: DaemonLogging, started: Promise<Stoppable>, name: string): Promise<number> {
  let daemon: Stoppable;
  try {
    daemon = await started;
  } catch (error) {
    logging.logger.error({ event: 'start-failed', error: (error as Error).message }, `${name} failed to start`);
    logging.flushSync();
    io.stderr.write(`warren: ${name} failed to start: ${(error as Error).message}\n`);
    return 1;
  }
  return new Promise((resolve) => {
    const coordinator = new ShutdownCoordinator({
      logger: logging.logger,
      exit: (code) => {
        stopListening();
        resolve(code);
      },
      beforeExit: (result) => {
        logging.logger.info({ event: 'stopped', reason: result.reason, steps: result.steps, exitCode: result.exitCode }, `${name} stopped`);
        logging.flushSync();
      },
    });
    for (const step of standardSteps({
      stopAccepting: () => daemon.stopAccepting?.('shutting down'),
      isLeader: () => daemon.isLeader?.() ?? false,
      transferLeadership: (signal) => daemon.transferLeadership?.(signal),
      closeStorage: () => daemon.stop(),
      flushLogs: () => logging.flushSync(),
      timeoutsMs: { stopAccepting: 5_000, transferLeadership: 3_000, closeStorage: 10_000 },
    })) coordinator.register(step);
    const stopListening = coordinator.listen(process);
    void daemon.removed?.then(() => coordinator.shutdown('removed from the cluster'));
  });
}

function startManager(io: CliIo, raw: ManagerRaw, bootstrap: string[] | null, key: Buffer): Promise<number> {
  const logging = daemonLogging(io, raw.id, raw.role);
  const started = (async (): Promise<Stoppable> => {
    const manager = await ManagerProcess.start({
      id: raw.id, clusterId: raw.clusterId, dataDir: raw.dataDir, listen: raw.listen, advertise: raw.advertise,
      metricsListen: metricsAddress(raw.listen, raw.metricsListen), peers: raw.peers ?? {}, bootstrap, secretKey: key, logger: logging.logger,
      raft: { snapshotEveryEntries: raw.snapshotEvery, keepEntriesAfterSnapshot: Math.min(1_000, Math.ceil(raw.snapshotEvery / 10)) },
    });
    if (raw.role !== 'hybrid') return manager;
    // A hybrid node: this manager also runs tasks, with a worker talking to every manager, itself included.
    const worker = new WorkerProcess({
      id: raw.id, clusterId: raw.clusterId, managers: manager.managers(), stateDir: join(raw.dataDir, 'worker'), heartbeatMs: 500, session: defaultSessionConfig,
      registration: { name: raw.id, address: splitAddress(manager.address()).host, role: 'hybrid', resources: { cpuMillis: raw.cpuMillis, memoryBytes: raw.memoryMb * 1024 * 1024 }, labels: raw.label ?? {} },
      logger: logging.logger,
    });
    try {
      await worker.start();
    } catch (error) {
      await worker.stop();
      await manager.stop();
      throw error;
    }
    return {
      removed: manager.removed,
      stopAccepting: (reason) => manager.stopAccepting(reason),
      isLeader: () => manager.isLeader(),
      transferLeadership: (signal) => manager.transferLeadership(signal),
      stop: async () => {
        await worker.stop();
        await manager.stop();
      },
    };
  })();
  return runUntilSignal(io, logging, started, `${raw.role} ${raw.id}`);
}

/** `HOST:PORT,...` */
function parseAddresses(text: string): string[] {
  return text.split(',').map((item) => parseAddress(item));
}

/** Asks the cluster to add this manager; the managers' addresses, or null (reported) when refused. */
async function askToJoin(io: CliIo, join: readonly string[], clusterId: string, id: string, address: string, key: Buffer): Promise<readonly ManagerAddress[] | null> {
  const client = new ApiClient({ addresses: join, timeoutMs: 15_000 });
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const answer = await client.call('ManagerJoin', { id, address, proof: joinProof(key, clusterId, id, address) });
        return answer.managers;
      } catch (error) {
        const retriable = error instanceof ApiError && error.code === grpc.status.UNAVAILABLE && attempt < 20;
        if (!retriable) {
          io.stderr.write(`warren: manager ${id} could not join through ${join.join(', ')}: ${(error as Error).message}\n`);
          return null;
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  } finally {
    client.close();
  }
}

function usage(io: CliIo, setExit: (code: Promise<number>) => void, message: string): void {
  io.stderr.write(`warren: ${message}\n`);
  setExit(Promise.resolve(2));
}

export function addDaemonCommands(program: Command, io: CliIo, setExit: (code: Promise<number>) => void): void {
  const cluster = program.command('cluster').description('start a new cluster');
  managerOptions(cluster.command('init').description('first start of a manager of a new cluster: it and --peers are the initial members'))
    .option('--secret-key-file <FILE>', 'the cluster key sealing secrets (32 bytes, hex or base64); required with --peers, the same file for every initial manager')
    .action((raw: ManagerRaw) => {
      if (hasManagerState(raw.dataDir)) return usage(io, setExit, `--data-dir ${raw.dataDir} is not empty: this manager has started before; use warren manager start`);
      const peers = Object.keys(raw.peers ?? {});
      if (peers.includes(raw.id)) return usage(io, setExit, `--peers names this manager (${raw.id}); list only the other managers`);
      let key: Buffer;
      try {
        if (raw.secretKeyFile !== undefined) key = readKey(raw.secretKeyFile);
        else if (peers.length > 0) return usage(io, setExit, '--peers needs --secret-key-file: every initial manager must seal secrets with the same key (make one with: head -c 32 /dev/urandom > cluster.key)');
        else key = existsSync(keyFileOf(raw.dataDir)) ? readKey(keyFileOf(raw.dataDir)) : randomBytes(SECRET_KEY_BYTES);
      } catch (error) {
        return usage(io, setExit, `--secret-key-file: ${(error as Error).message}`);
      }
      writeKey(raw.dataDir, key);
      setExit(startManager(io, raw, [raw.id, ...peers], key));
    });

  addUpCommand(cluster, io, setExit);

  const manager = program.command('manager').description('run a manager');
  managerOptions(manager.command('start').description('start a manager on the data directory of an earlier start (never founds a cluster)'))
    .action((raw: ManagerRaw) => {
      if (!hasManagerState(raw.dataDir)) return usage(io, setExit, `--data-dir ${raw.dataDir} holds no manager state; start a new cluster with warren cluster init`);
      let key: Buffer;
      try {
        key = readKey(keyFileOf(raw.dataDir));
      } catch (error) {
        return usage(io, setExit, `the cluster key in --data-dir ${raw.dataDir} cannot be read: ${(error as Error).message}`);
      }
      setExit(startManager(io, raw, null, key));
    });

  managerOptions(manager.command('join').description('first start of a manager joining a running cluster: it is added as a learner, then promoted to voter once caught up'))
    .addOption(new Option('--join <LIST>', 'running managers to ask: HOST:PORT,... (their --listen)').argParser(parseAddresses).makeOptionMandatory())
    .requiredOption('--secret-key-file <FILE>', 'the cluster key (the cluster.key file in a manager\'s --data-dir): it proves this manager may join')
    .action((raw: ManagerRaw & { join: string[]; secretKeyFile: string }) => {
      if (hasManagerState(raw.dataDir)) return usage(io, setExit, `--data-dir ${raw.dataDir} is not empty: this manager has started before; use warren manager start`);
      const address = raw.advertise ?? raw.listen;
      if (address.endsWith(':0')) return usage(io, setExit, '--listen (or --advertise) needs a fixed port to join: the other managers must know where to reach this one');
      let key: Buffer;
      try {
        key = readKey(raw.secretKeyFile);
      } catch (error) {
        return usage(io, setExit, `--secret-key-file: ${(error as Error).message}`);
      }
      setExit((async () => {
        const joined = await askToJoin(io, raw.join, raw.clusterId, raw.id, address, key);
        if (joined === null) return 1;
        writeKey(raw.dataDir, key);
        const peers = Object.fromEntries(joined.filter((m) => m.id !== raw.id && m.apiAddress !== null).map((m) => [m.id, m.apiAddress!]));
        return startManager(io, { ...raw, peers }, null, key);
      })());
    });

  const worker = program.command('worker').description('run a worker');
  worker.command('start').description('start a worker: it registers with the managers and runs the tasks they assign')
    .addOption(new Option('--id <ID>', 'this worker\'s node id').argParser(parseId).makeOptionMandatory())
    .requiredOption('--data-dir <DIR>', 'where task working directories, logs and records live')
    .option('--cluster-id <NAME>', 'the cluster\'s name', 'warren')
    .addOption(new Option('--managers <LIST>', 'the managers: ID=HOST:PORT,... (their --listen)').argParser(parseMembers).makeOptionMandatory())
    .addOption(new Option('--cpu-millis <N>', 'CPU this worker offers, in thousandths of a core').argParser(positiveInt('CPU millis')).default(4000))
    .addOption(new Option('--memory-mb <N>', 'memory this worker offers, in MiB').argParser(positiveInt('MiB')).default(4096))
    .addOption(new Option('--label <KEY=VALUE>', 'a node label for placement constraints; repeatable').argParser(parseLabel))
    .option('--advertise <HOST>', 'the address tasks on this worker are reached at', '127.0.0.1')
    .addOption(new Option('--metrics-listen <HOST:PORT>', '/live /ready /health /metrics').argParser(parseAddress).default('127.0.0.1:9250'))
    .addOption(new Option('--heartbeat-ms <N>', 'heartbeat period').argParser(positiveInt('milliseconds')).default(500))
    .action((raw: WorkerRaw) => {
      const logging = daemonLogging(io, raw.id, 'worker');
      const started = (async () => {
        const w = new WorkerProcess({
          id: raw.id, clusterId: raw.clusterId, managers: raw.managers, stateDir: raw.dataDir, heartbeatMs: raw.heartbeatMs, session: defaultSessionConfig,
          registration: { name: raw.id, address: raw.advertise, resources: { cpuMillis: raw.cpuMillis, memoryBytes: raw.memoryMb * 1024 * 1024 }, labels: raw.label ?? {} },
          metricsListen: raw.metricsListen,
          logger: logging.logger,
        });
        await w.start();
        return w;
      })();
      setExit(runUntilSignal(io, logging, started, `worker ${raw.id}`));
    });
}
