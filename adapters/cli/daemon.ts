// The daemon commands: `warren cluster init` (the first start of a manager of a new cluster, with its
// initial members), `warren manager start` (a manager restarting on its data directory) and
// `warren worker start`. Each runs in the foreground until SIGTERM or SIGINT, logging one JSON line
// per event on stdout, and then stops gracefully (listeners closed, the write in flight finished,
// the disk closed) and exits 0.
// Invariants: every option is validated before anything starts (a bad one exits 2 naming it and
// what is expected); `manager start` never bootstraps, so a manager pointed at the wrong (empty)
// directory refuses to start instead of founding a second cluster.

import { existsSync, readdirSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ManagerProcess } from '../daemon/manager-process.ts';
import { defaultSessionConfig, WorkerProcess } from '../daemon/worker-process.ts';
import type { CliIo } from './main.ts';

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
  workerListen: string;
  peers?: Record<string, string>;
}

interface WorkerRaw {
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

function jsonLog(io: CliIo, node: string): (event: string, fields: Record<string, unknown>) => void {
  return (event, fields) => io.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), node_id: node, event, ...fields })}\n`);
}

function managerOptions(command: Command): Command {
  return command
    .addOption(new Option('--id <ID>', 'this manager\'s node id').argParser(parseId).makeOptionMandatory())
    .requiredOption('--data-dir <DIR>', 'where the write-ahead log and snapshots live')
    .option('--cluster-id <NAME>', 'the cluster\'s name; peers of another cluster are refused', 'warren')
    .addOption(new Option('--listen <HOST:PORT>', 'address for Raft between managers').argParser(parseAddress).default('127.0.0.1:4240'))
    .addOption(new Option('--worker-listen <HOST:PORT>', 'address for worker heartbeats').argParser(parseAddress).default('127.0.0.1:4241'))
    .addOption(new Option('--peers <LIST>', 'the other managers: ID=HOST:PORT,... (their --listen)').argParser(parseMembers));
}

/** Runs until a signal; resolves to the exit code. */
async function runUntilSignal(io: CliIo, started: Promise<{ stop(): Promise<void> | void }>, name: string): Promise<number> {
  let daemon: { stop(): Promise<void> | void };
  try {
    daemon = await started;
  } catch (error) {
    io.stderr.write(`warren: ${name} failed to start: ${(error as Error).message}\n`);
    return 1;
  }
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      io.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), event: 'stopping', signal })}\n`);
      Promise.resolve(daemon.stop()).then(() => resolve(0), (error: Error) => {
        io.stderr.write(`warren: ${name} did not stop cleanly: ${error.message}\n`);
        resolve(1);
      });
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}

export function addDaemonCommands(program: Command, io: CliIo, setExit: (code: Promise<number>) => void): void {
  const cluster = program.command('cluster').description('start a new cluster');
  managerOptions(cluster.command('init').description('first start of a manager of a new cluster: it and --peers are the initial members'))
    .action((raw: ManagerRaw) => {
      if (existsSync(raw.dataDir) && readdirSync(raw.dataDir).length > 0) {
        io.stderr.write(`warren: --data-dir ${raw.dataDir} is not empty: this manager has started before; use warren manager start\n`);
        setExit(Promise.resolve(2));
        return;
      }
      const voters = [raw.id, ...Object.keys(raw.peers ?? {})];
      setExit(runUntilSignal(io, ManagerProcess.start({
        id: raw.id, clusterId: raw.clusterId, dataDir: raw.dataDir, raftListen: raw.listen, workerListen: raw.workerListen,
        peers: raw.peers ?? {}, bootstrap: voters, log: jsonLog(io, raw.id),
      }), `manager ${raw.id}`));
    });

  const manager = program.command('manager').description('run a manager');
  managerOptions(manager.command('start').description('start a manager on the data directory of an earlier start (never founds a cluster)'))
    .action((raw: ManagerRaw) => {
      if (!existsSync(raw.dataDir) || readdirSync(raw.dataDir).length === 0) {
        io.stderr.write(`warren: --data-dir ${raw.dataDir} holds no manager state; start a new cluster with warren cluster init\n`);
        setExit(Promise.resolve(2));
        return;
      }
      setExit(runUntilSignal(io, ManagerProcess.start({
        id: raw.id, clusterId: raw.clusterId, dataDir: raw.dataDir, raftListen: raw.listen, workerListen: raw.workerListen,
        peers: raw.peers ?? {}, bootstrap: null, log: jsonLog(io, raw.id),
      }), `manager ${raw.id}`));
    });

  const worker = program.command('worker').description('run a worker');
  worker.command('start').description('start a worker: it registers with the managers and runs the tasks they assign')
    .addOption(new Option('--id <ID>', 'this worker\'s node id').argParser(parseId).makeOptionMandatory())
    .requiredOption('--data-dir <DIR>', 'where task working directories, logs and records live')
    .option('--cluster-id <NAME>', 'the cluster\'s name', 'warren')
    .addOption(new Option('--managers <LIST>', 'the managers\' worker addresses: ID=HOST:PORT,... (their --worker-listen)').argParser(parseMembers).makeOptionMandatory())
    .addOption(new Option('--cpu-millis <N>', 'CPU this worker offers, in thousandths of a core').argParser(positiveInt('CPU millis')).default(4000))
    .addOption(new Option('--memory-mb <N>', 'memory this worker offers, in MiB').argParser(positiveInt('MiB')).default(4096))
    .addOption(new Option('--label <KEY=VALUE>', 'a node label for placement constraints; repeatable').argParser(parseLabel))
    .option('--advertise <HOST>', 'the address tasks on this worker are reached at', '127.0.0.1')
    .addOption(new Option('--heartbeat-ms <N>', 'heartbeat period').argParser(positiveInt('milliseconds')).default(500))
    .action((raw: WorkerRaw) => {
      const started = (async () => {
        const w = new WorkerProcess({
          id: raw.id, clusterId: raw.clusterId, managers: raw.managers, stateDir: raw.dataDir, heartbeatMs: raw.heartbeatMs, session: defaultSessionConfig,
          registration: { name: raw.id, address: raw.advertise, resources: { cpuMillis: raw.cpuMillis, memoryBytes: raw.memoryMb * 1024 * 1024 }, labels: raw.label ?? {} },
          log: jsonLog(io, raw.id),
        });
        w.start();
        return w;
      })();
      setExit(runUntilSignal(io, started, `worker ${raw.id}`));
    });
}
