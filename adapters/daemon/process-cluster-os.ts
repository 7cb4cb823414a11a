// What the integration tests' harness (process-cluster.ts) needs of the operating system: free
// loopback ports picked below the kernel's ephemeral range (so no outgoing connection takes one
// while its daemon is down), the task processes of a worker found under /proc (each task's shim
// leads a process group of its own, see adapters/runtime/process/shim.ts), small tmpfs mounts and
// ballast files to fill them, and the snapshot files in a manager's data directory.
// Linux only, like the process runtime.

import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSnapshotName } from '../storage/files.ts';

// ---- ports ----

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 12_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function tryListen(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(server));
  });
}

/** `count` distinct free loopback ports below the ephemeral range (held until all are found, then released). */
export async function freePorts(count: number): Promise<number[]> {
  const high = ephemeralLow();
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    for (let attempts = 0; ports.length < count; attempts++) {
      if (attempts > 1000) throw new Error(`could not find ${count} free ports below ${high}`);
      const port = randomInt(10_000, high);
      if (ports.includes(port)) continue;
      const server = await tryListen(port);
      if (server === null) continue;
      held.push(server);
      ports.push(port);
    }
  } finally {
    await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
  }
  return ports;
}

// ---- processes under /proc ----

interface ProcInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly pgrp: number;
  readonly state: string;
  readonly argv: readonly string[];
}

function processes(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').slice(0, -1);
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(name), state: fields[0]!, ppid: Number(fields[1]), pgrp: Number(fields[2]), argv });
    } catch {
      // it ended while we looked
    }
  }
  return out;
}

/** A task of the process runtime, as seen from the OS: its shim (the group leader) and the program it runs. */
export interface TaskProcess {
  readonly shimPid: number;
  /** The program's argv, null when the shim has no live child (the program ended or is not yet forked). */
  readonly program: readonly string[] | null;
}

/** The live tasks whose shim's exit-status file lies under `dataDir` (see adapters/runtime/process/shim.ts). */
export function taskProcessesUnder(dataDir: string): TaskProcess[] {
  const all = processes().filter((p) => p.state !== 'Z');
  const shims = all.filter((p) => p.argv[3] === 'warren-task' && (p.argv[4] ?? '').startsWith(`${dataDir}/`));
  return shims.map((shim) => {
    const child = all.find((p) => p.pgrp === shim.pid && p.pid !== shim.pid);
    return { shimPid: shim.pid, program: child === undefined ? null : child.argv };
  });
}

/** SIGKILLs every task process group under `dataDir`; returns how many groups were signalled. */
export function killTaskProcessesUnder(dataDir: string): number {
  let killed = 0;
  for (const task of taskProcessesUnder(dataDir)) {
    try {
      process.kill(-task.shimPid, 'SIGKILL');
      killed++;
    } catch {
      // already gone
    }
  }
  return killed;
}

// ---- tmpfs ----

/** Null when a tmpfs can be mounted here (root, and allowed by the container), else why not. */
export function tmpfsUnavailable(): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'warren-tmpfs-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'pipe' });
    execFileSync('umount', [dir], { stdio: 'pipe' });
    return null;
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return `mount -t tmpfs failed: ${stderr || (error as Error).message}`;
  } finally {
    rmdirSync(dir);
  }
}

/** Writes a ballast file in `dir` until the file system is full; returns its size in bytes. */
export function fillDisk(dir: string, name = 'ballast'): number {
  const fd = openSync(join(dir, name), 'w');
  let total = 0;
  try {
    for (const chunkBytes of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
      const chunk = Buffer.alloc(chunkBytes, 0x5a);
      for (;;) {
        try {
          total += writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

export function removeBallast(dir: string, name = 'ballast'): void {
  unlinkSync(join(dir, name));
}

/** Highest Raft index of a snapshot file in a manager's data directory (0 when none). */
export function snapshotIndexOnDisk(dataDir: string): number {
  return Math.max(0, ...readdirSync(dataDir).map((name) => parseSnapshotName(name)?.index ?? 0));
}
