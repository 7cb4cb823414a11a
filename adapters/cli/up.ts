// `warren cluster up`: a whole cluster on this machine, for trying Warren and for the README's quick
// start: 3 managers and 2 workers by default, each a real daemon process (`warren cluster init`,
// `manager join`, `worker start`, or `manager start` / `worker start` again when the directory holds
// a cluster from an earlier run), with its data and its log under --dir. It stays in the foreground
// and reports what happens to the cluster: the leader (and each change of leader), a daemon that
// exits (with the command that starts it again) and one that comes back. Ctrl-C (or SIGTERM) stops
// every daemon gracefully, then it exits.
// Invariants: the daemons' ports are laid out from --base-port so no two of its own collide; on a
// signal it stops every daemon it started before it exits (their tasks keep running, and the
// workers adopt them at the next start); all its output is progress for a person, and `--json`
// prints one JSON line per event instead.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { ApiClient } from '../grpc/api-client.ts';
import { integerIn } from './client-format.ts';
import { hasManagerState, keyFileOf } from './data-dir.ts';
import type { CliIo } from './main.ts';

interface UpOptions {
  dir: string;
  managers: number;
  workers: number;
  basePort: number;
  json: boolean;
}

interface Member {
  readonly id: string;
  readonly kind: 'manager' | 'worker';
  readonly args: string[];
  readonly restartArgs: string[];
  readonly log: string;
  child: ChildProcess | null;
}

const bin = new URL('../../bin/warren.mjs', import.meta.url).pathname;

/** Manager i's --listen address: base + 10 i. */
function managerListen(o: UpOptions, i: number): string {
  return `127.0.0.1:${o.basePort + i * 10}`;
}

/** The daemons of a cluster laid out under `dir`: manager i listens on base + 10 i, its metrics on + 1; worker j's metrics on base + 100 + 10 j. */
function plan(o: UpOptions): Member[] {
  const dir = resolve(o.dir);
  const listen = (i: number) => managerListen(o, i);
  const ids = Array.from({ length: o.managers }, (_, i) => `m${i + 1}`);
  const key = keyFileOf(join(dir, 'm1'));
  const members: Member[] = ids.map((id, i) => {
    const common = ['--id', id, '--data-dir', join(dir, id), '--listen', listen(i), '--metrics-listen', `127.0.0.1:${o.basePort + i * 10 + 1}`];
    const first = i === 0 ? ['cluster', 'init', ...common] : ['manager', 'join', ...common, '--join', listen(0), '--secret-key-file', key];
    const restart = ['manager', 'start', ...common];
    return { id, kind: 'manager', args: hasManagerState(join(dir, id)) ? restart : first, restartArgs: restart, log: join(dir, 'logs', `${id}.log`), child: null };
  });
  const managerList = ids.map((id, i) => `${id}=${listen(i)}`).join(',');
  for (let j = 0; j < o.workers; j++) {
    const id = `w${j + 1}`;
    const args = ['worker', 'start', '--id', id, '--data-dir', join(dir, id), '--managers', managerList,
      '--metrics-listen', `127.0.0.1:${o.basePort + 100 + j * 10}`, '--heartbeat-ms', '250'];
    members.push({ id, kind: 'worker', args, restartArgs: args, log: join(dir, 'logs', `${id}.log`), child: null });
  }
  return members;
}

export function addUpCommand(cluster: Command, io: CliIo, setExit: (code: Promise<number>) => void): void {
  cluster.command('up')
    .description('run a whole cluster on this machine (3 managers, 2 workers by default) in the foreground, until Ctrl-C')
    .option('--dir <DIR>', 'where the daemons keep their data and logs', '.warren')
    .addOption(new Option('--managers <N>', 'managers to run (an odd number is best)').argParser(integerIn(1, 7, 'the number of managers')).default(3))
    .addOption(new Option('--workers <N>', 'workers to run').argParser(integerIn(1, 9, 'the number of workers')).default(2))
    .addOption(new Option('--base-port <PORT>', 'manager i listens on PORT + 10 i').argParser(integerIn(1024, 60000, 'a port')).default(4240))
    .option('--json', 'one JSON line per event instead of text')
    .action((o: UpOptions) => setExit(up(io, { ...o, json: o.json === true })));
}

async function up(io: CliIo, o: UpOptions): Promise<number> {
  const dir = resolve(o.dir);
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const members = plan(o);
  const say = (event: string, text: string, fields: Record<string, unknown> = {}) =>
    io.stdout.write(o.json ? `${JSON.stringify({ time: new Date().toISOString(), event, ...fields })}\n` : `${text}\n`);
  let stopping = false;
  const cmd = (m: Member, args: string[]) => `npx warren ${args.join(' ')} >> ${m.log} 2>&1 &`;

  const launch = (m: Member, args: string[]): ChildProcess => {
    const out = openSync(m.log, 'a');
    // Its own process group: a Ctrl-C in the terminal reaches this command only, which then stops each daemon once, gracefully.
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', out, out], detached: true });
    closeSync(out);
    m.child = child;
    child.on('exit', (code, signal) => {
      if (m.child === child) m.child = null;
      if (stopping) return;
      say('exited', `${m.id} (pid ${child.pid}) exited ${signal ?? `with code ${code}`}; see ${m.log}; start it again with:\n  ${cmd(m, m.restartArgs)}`,
        { id: m.id, pid: child.pid, code, signal, restart: `npx warren ${m.restartArgs.join(' ')}` });
    });
    return child;
  };

  const managers = members.filter((m) => m.kind === 'manager');
  const workers = members.filter((m) => m.kind === 'worker');
  const addresses = managers.map((_, i) => managerListen(o, i));
  const client = new ApiClient({ addresses, timeoutMs: 2000, connectTimeoutMs: 500 });
  const info = async () => {
    try {
      return await client.call('ClusterInfo', {});
    } catch {
      return null;
    }
  };
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

  const stopAll = async (): Promise<void> => {
    stopping = true;
    const running = members.filter((m) => m.child !== null);
    await Promise.all(running.map((m) => new Promise<void>((r) => {
      const child = m.child!;
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('exit', () => {
        clearTimeout(timer);
        r();
      });
      child.kill('SIGTERM');
    })));
    client.close();
  };

  // Until the cluster is up, a signal stops what was started and exits.
  let interrupted: NodeJS.Signals | null = null;
  const onEarlySignal = (signal: NodeJS.Signals) => {
    interrupted = signal;
  };
  process.on('SIGINT', onEarlySignal);
  process.on('SIGTERM', onEarlySignal);
  const abandon = async (why: string, code: number): Promise<number> => {
    process.off('SIGINT', onEarlySignal);
    process.off('SIGTERM', onEarlySignal);
    say('stopping', why, {});
    await stopAll();
    return code;
  };
  // A new cluster: the founder, then each joiner once the one before is in (a join needs a leader
  // to answer it). A cluster from an earlier run: every manager at once (one alone has no quorum).
  const restarting = managers.every((m) => m.args[0] === 'manager' && m.args[1] === 'start');
  for (const m of managers) {
    launch(m, m.args);
    say('starting', `starting ${m.id}: warren ${m.args.slice(0, 2).join(' ')} (log ${m.log})`, { id: m.id, args: m.args });
    if (restarting && m !== managers[managers.length - 1]) continue;
    for (const deadline = Date.now() + 30_000; ;) {
      if (interrupted !== null) return abandon(`${interrupted}: stopping what was started`, 0);
      if (m.child === null || Date.now() > deadline) return abandon(`${m.id} did not come up; see ${m.log}`, 1);
      const now = await info();
      if (now !== null && now.leader !== null && now.managers.some((x) => x.id === m.id)) break;
      await wait(200);
    }
  }
  for (const m of workers) {
    launch(m, m.args);
    say('starting', `starting ${m.id}: warren worker start (log ${m.log})`, { id: m.id, args: m.args });
  }
  // Ready when every worker is registered and ready.
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    if (interrupted !== null) return abandon(`${interrupted}: stopping what was started`, 0);
    try {
      const nodes = await client.call('NodeList', {});
      if (workers.every((w) => nodes.nodes.some((n) => n.name === w.id && n.status === 'ready'))) break;
    } catch {
      // no leader yet
    }
    await wait(250);
  }
  const now = await info();
  say('up', [
    `cluster up: ${managers.length} managers, ${workers.length} workers; leader ${now?.leader?.id ?? '(electing)'}`,
    ...members.map((m) => `  ${m.id.padEnd(4)} ${m.kind.padEnd(8)} pid ${String(m.child?.pid ?? '-').padEnd(8)} ${m.log}`),
    `try, in another terminal:`,
    `  export WARREN_MANAGERS=${addresses.join(',')}`,
    `  npx warren service create --name web --replicas 4 process:sleep 3600`,
    `  npx warren service ps web`,
    `  npx warren cluster info                    # which manager leads`,
    `  kill -9 <the leader's pid from above>        # and watch a new leader take over here`,
    `Ctrl-C stops the cluster; npm start brings it back from ${dir}`,
  ].join('\n'), { leader: now?.leader?.id ?? null, members: members.map((m) => ({ id: m.id, kind: m.kind, pid: m.child?.pid ?? null, log: m.log })) });

  process.off('SIGINT', onEarlySignal);
  process.off('SIGTERM', onEarlySignal);
  return new Promise((resolveExit) => {
    let leader = now?.leader?.id ?? null;
    let term = now?.term ?? 0;
    const watch = setInterval(() => {
      void info().then((current) => {
        if (stopping || current === null) return;
        const next = current.leader?.id ?? null;
        if (next !== leader && next !== null) {
          say('leader', `leader is now ${next} (term ${current.term}; was ${leader ?? 'none'} in term ${term})`, { leader: next, term: current.term, previous: leader });
          leader = next;
          term = current.term;
        }
      });
    }, 250);
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) return;
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      clearInterval(watch);
      say('stopping', `${signal}: stopping every daemon gracefully`, { signal });
      void stopAll().then(() => {
        say('stopped', 'cluster stopped', {});
        resolveExit(0);
      });
    };
    const onInt = () => onSignal('SIGINT');
    const onTerm = () => onSignal('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}
