// An in-memory file system that models what a power loss keeps, for tests of the WAL's fsync
// discipline. Written data is volatile until the file is fsynced; a created, renamed or removed name
// is volatile until its directory is fsynced. crash() keeps, per file, the synced content plus a
// random subset of the 512-byte sectors written since (so a torn write may keep a later sector and
// lose an earlier one, as a disk reordering writes does), and per directory a random prefix of the
// name operations since its last fsync (a journaling file system keeps metadata in order).
// A crash point (stopAt) freezes the process just before the nth call of an operation: that call
// never returns, as if the process died there; then crash() decides what the disk kept.
// Every FileSystem view handed out (mount) dies at the next crash: calls through it fail with EIO,
// like the I/O of a dead process, so a storage left over from before a crash cannot touch the disk.
// Paths are split into directory and name; directories (and their parents) are created by mkdir and
// are durable at once; the root directory always exists.

import { basename, dirname } from 'node:path';
import type { FileHandle, FileSystem } from './fs.ts';

const SECTOR_BYTES = 512;

export type FsOperation = 'create' | 'openForWrite' | 'write' | 'datasync' | 'sync' | 'truncate' | 'close' | 'readFile' | 'readdir' | 'mkdir' | 'rename' | 'unlink' | 'syncDir';

type PendingOp = { readonly kind: 'write'; readonly position: number; readonly bytes: Buffer } | { readonly kind: 'truncate'; readonly lengthBytes: number };

interface Inode {
  data: Buffer;
  durable: Buffer;
  pending: PendingOp[];
}

type NameOp =
  | { readonly kind: 'link'; readonly name: string; readonly inode: Inode }
  | { readonly kind: 'unlink'; readonly name: string }
  | { readonly kind: 'rename'; readonly from: string; readonly to: string; readonly inode: Inode };

interface Directory {
  names: Map<string, Inode>;
  durableNames: Map<string, Inode>;
  pending: NameOp[];
}

const fsError = (code: string, message: string): Error => Object.assign(new Error(`${code}: ${message}`), { code });

export class MemoryFileSystem {
  private readonly dirs = new Map<string, Directory>([['/', { names: new Map(), durableNames: new Map(), pending: [] }]]);
  private epoch = 0;
  private stopPoint: { op: FsOperation | 'any'; remaining: number } | null = null;
  private stopped = false;
  private onStop: (() => void) | null = null;
  /** Calls made, by operation (for assertions on fsync discipline). */
  readonly calls = new Map<FsOperation, number>();

  /** A FileSystem view on this disk; it stops working at the next crash. */
  mount(): FileSystem {
    return new MemoryView(this, this.epoch);
  }

  /** Freezes at the nth call of `op` (of any operation for 'any') from now; resolves when it happens. */
  stopAt(op: FsOperation | 'any', nth: number): Promise<void> {
    this.stopPoint = { op, remaining: nth };
    this.stopped = false;
    return new Promise((resolve) => (this.onStop = resolve));
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** All calls made so far, of every operation. */
  get callCount(): number {
    let total = 0;
    for (const count of this.calls.values()) total += count;
    return total;
  }

  /** Power loss: keeps what was synced and a random part of the rest (see the header). */
  crash(random: () => number): void {
    this.epoch++;
    this.stopPoint = null;
    this.stopped = false;
    for (const dir of this.dirs.values()) {
      const keep = Math.floor(random() * (dir.pending.length + 1));
      const names = new Map(dir.durableNames);
      for (const op of dir.pending.slice(0, keep)) {
        if (op.kind === 'link') names.set(op.name, op.inode);
        else if (op.kind === 'unlink') names.delete(op.name);
        else {
          names.delete(op.from);
          names.set(op.to, op.inode);
        }
      }
      dir.names = names;
      dir.durableNames = new Map(names);
      dir.pending = [];
    }
    const seen = new Set<Inode>();
    for (const dir of this.dirs.values()) {
      for (const inode of dir.names.values()) {
        if (seen.has(inode)) continue;
        seen.add(inode);
        inode.data = surviving(inode, random);
        inode.durable = Buffer.from(inode.data);
        inode.pending = [];
      }
    }
  }

  /** The current content of a file (what a reader would see now), for tests that damage files. */
  peek(path: string): Buffer {
    return Buffer.from(this.inodeAt(path).data);
  }

  /** Replaces a file's content durably (tests use it to flip bits or cut files). */
  poke(path: string, data: Buffer): void {
    const inode = this.inodeAt(path);
    inode.data = Buffer.from(data);
    inode.durable = Buffer.from(data);
    inode.pending = [];
  }

  // ---- used by the views ----

  enter(epoch: number, op: FsOperation): Promise<void> | null {
    if (epoch !== this.epoch) throw fsError('EIO', `${op} after a crash (the process is gone)`);
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
    if (this.stopped) return new Promise(() => {});
    if (this.stopPoint && (this.stopPoint.op === op || this.stopPoint.op === 'any') && --this.stopPoint.remaining <= 0) {
      this.stopped = true;
      this.stopPoint = null;
      this.onStop?.();
      return new Promise(() => {});
    }
    return null;
  }

  directory(path: string, create = false): Directory {
    let dir = this.dirs.get(path);
    if (!dir) {
      if (!create) throw fsError('ENOENT', `no directory ${path}`);
      dir = { names: new Map(), durableNames: new Map(), pending: [] };
      this.dirs.set(path, dir);
    }
    return dir;
  }

  hasDirectory(path: string): boolean {
    return this.dirs.has(path);
  }

  inodeAt(path: string): Inode {
    const inode = this.directory(dirname(path)).names.get(basename(path));
    if (!inode) throw fsError('ENOENT', `no file ${path}`);
    return inode;
  }
}

/** A file's content after a power loss: synced bytes plus a random subset of later sectors. */
function surviving(inode: Inode, random: () => number): Buffer {
  let data: Buffer = Buffer.from(inode.durable);
  for (const op of inode.pending) {
    if (op.kind === 'truncate') {
      if (random() < 0.5) data = resize(data, op.lengthBytes);
      continue;
    }
    for (let sector = Math.floor(op.position / SECTOR_BYTES) * SECTOR_BYTES; sector < op.position + op.bytes.length; sector += SECTOR_BYTES) {
      if (random() < 0.5) continue;
      const from = Math.max(sector, op.position);
      const to = Math.min(sector + SECTOR_BYTES, op.position + op.bytes.length);
      if (data.length < to) data = resize(data, to);
      op.bytes.copy(data, from, from - op.position, to - op.position);
    }
  }
  return data;
}

function resize(data: Buffer, lengthBytes: number): Buffer {
  if (lengthBytes <= data.length) return Buffer.from(data.subarray(0, lengthBytes));
  const grown = Buffer.alloc(lengthBytes);
  data.copy(grown);
  return grown;
}

class MemoryHandle implements FileHandle {
  constructor(
    private readonly disk: MemoryFileSystem,
    private readonly epoch: number,
    private readonly inode: Inode,
  ) {}

  async write(bytes: Uint8Array, position: number): Promise<number> {
    const stop = this.disk.enter(this.epoch, 'write');
    if (stop) return stop.then(() => 0);
    const copy = Buffer.from(bytes);
    if (this.inode.data.length < position + copy.length) this.inode.data = resize(this.inode.data, position + copy.length);
    copy.copy(this.inode.data, position);
    this.inode.pending.push({ kind: 'write', position, bytes: copy });
    return copy.length;
  }

  async datasync(): Promise<void> {
    const stop = this.disk.enter(this.epoch, 'datasync');
    if (stop) return stop;
    this.persist();
  }

  async sync(): Promise<void> {
    const stop = this.disk.enter(this.epoch, 'sync');
    if (stop) return stop;
    this.persist();
  }

  private persist(): void {
    this.inode.durable = Buffer.from(this.inode.data);
    this.inode.pending = [];
  }

  async truncate(lengthBytes: number): Promise<void> {
    const stop = this.disk.enter(this.epoch, 'truncate');
    if (stop) return stop;
    this.inode.data = resize(this.inode.data, lengthBytes);
    this.inode.pending.push({ kind: 'truncate', lengthBytes });
  }

  async close(): Promise<void> {
    const stop = this.disk.enter(this.epoch, 'close');
    if (stop) return stop;
  }
}

class MemoryView implements FileSystem {
  constructor(
    private readonly disk: MemoryFileSystem,
    private readonly epoch: number,
  ) {}

  async create(path: string): Promise<FileHandle> {
    const stop = this.disk.enter(this.epoch, 'create');
    if (stop) return stop.then(() => null as never);
    const dir = this.disk.directory(dirname(path));
    const name = basename(path);
    if (dir.names.has(name)) throw fsError('EEXIST', `${path} exists`);
    const inode: Inode = { data: Buffer.alloc(0), durable: Buffer.alloc(0), pending: [] };
    dir.names.set(name, inode);
    dir.pending.push({ kind: 'link', name, inode });
    return new MemoryHandle(this.disk, this.epoch, inode);
  }

  async openForWrite(path: string): Promise<FileHandle> {
    const stop = this.disk.enter(this.epoch, 'openForWrite');
    if (stop) return stop.then(() => null as never);
    return new MemoryHandle(this.disk, this.epoch, this.disk.inodeAt(path));
  }

  async readFile(path: string): Promise<Uint8Array> {
    const stop = this.disk.enter(this.epoch, 'readFile');
    if (stop) return stop.then(() => null as never);
    return Buffer.from(this.disk.inodeAt(path).data);
  }

  async readdir(dir: string): Promise<string[]> {
    const stop = this.disk.enter(this.epoch, 'readdir');
    if (stop) return stop.then(() => null as never);
    return [...this.disk.directory(dir).names.keys()].sort();
  }

  async mkdir(dir: string): Promise<void> {
    const stop = this.disk.enter(this.epoch, 'mkdir');
    if (stop) return stop;
    for (let path = dir; !this.disk.hasDirectory(path); path = dirname(path)) this.disk.directory(path, true);
  }

  async rename(from: string, to: string): Promise<void> {
    const stop = this.disk.enter(this.epoch, 'rename');
    if (stop) return stop;
    if (dirname(from) !== dirname(to)) throw fsError('EXDEV', 'rename across directories is not modelled');
    const dir = this.disk.directory(dirname(from));
    const inode = this.disk.inodeAt(from);
    dir.names.delete(basename(from));
    dir.names.set(basename(to), inode);
    dir.pending.push({ kind: 'rename', from: basename(from), to: basename(to), inode });
  }

  async unlink(path: string): Promise<void> {
    const stop = this.disk.enter(this.epoch, 'unlink');
    if (stop) return stop;
    this.disk.inodeAt(path);
    const dir = this.disk.directory(dirname(path));
    dir.names.delete(basename(path));
    dir.pending.push({ kind: 'unlink', name: basename(path) });
  }

  async syncDir(path: string): Promise<void> {
    const stop = this.disk.enter(this.epoch, 'syncDir');
    if (stop) return stop;
    const dir = this.disk.directory(path);
    dir.durableNames = new Map(dir.names);
    dir.pending = [];
  }
}
