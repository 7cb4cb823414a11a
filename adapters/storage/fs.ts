// The file-system layer the WAL and snapshot files go through, so that tests can put a
// fault-injecting or a power-loss-simulating file system underneath (faulty-fs.ts, memory-fs.ts).
// The default is node:fs: every call runs on libuv's thread pool, so an fsync never blocks
// the daemon's event loop, and appends that arrive meanwhile are grouped into the next fsync.
// Invariant of every implementation: `write` may write fewer bytes than asked (a short write) and
// says how many; nothing is durable until `datasync`/`sync` resolves, and a new, renamed or deleted
// name is durable only once `syncDir` of its directory resolves.

import { fdatasync, write } from 'node:fs';
import { open, mkdir, readdir, readFile, rename, unlink } from 'node:fs/promises';
import type { FileHandle as NodeFileHandle } from 'node:fs/promises';

export interface FileHandle {
  /** Writes bytes at position; resolves the count written, which may be fewer than bytes.length. */
  write(bytes: Uint8Array, position: number): Promise<number>;
  /** Makes the data (and the size) durable: fdatasync. */
  datasync(): Promise<void>;
  /** Makes data and all metadata durable: fsync. */
  sync(): Promise<void>;
  truncate(lengthBytes: number): Promise<void>;
  close(): Promise<void>;
}

export interface FileSystem {
  /** Creates a new, empty file open for writing; fails with EEXIST if the name exists. */
  create(path: string): Promise<FileHandle>;
  /** Opens an existing file for writing without truncating it. */
  openForWrite(path: string): Promise<FileHandle>;
  readFile(path: string): Promise<Uint8Array>;
  /** The names in a directory. */
  readdir(dir: string): Promise<string[]>;
  /** Creates a directory and its parents if missing. */
  mkdir(dir: string): Promise<void>;
  /** Atomically replaces `to` with `from` (same directory). */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** fsync of a directory: makes the names created, renamed or removed in it durable. */
  syncDir(dir: string): Promise<void>;
}

// The WAL's hot path (write, datasync) goes through node:fs's callback functions on the handle's
// descriptor: the same thread-pool calls as the FileHandle methods, with less work per call (they
// showed as a few percent of a busy manager's CPU). The handle stays open until close().
class NodeHandle implements FileHandle {
  constructor(private readonly handle: NodeFileHandle) {}

  write(bytes: Uint8Array, position: number): Promise<number> {
    return new Promise((resolve, reject) => write(this.handle.fd, bytes, 0, bytes.length, position, (error, written) => (error ? reject(error) : resolve(written))));
  }

  datasync(): Promise<void> {
    return new Promise((resolve, reject) => fdatasync(this.handle.fd, (error) => (error ? reject(error) : resolve())));
  }

  sync(): Promise<void> {
    return this.handle.sync();
  }

  truncate(lengthBytes: number): Promise<void> {
    return this.handle.truncate(lengthBytes);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** The real file system (node:fs/promises). */
export const nodeFileSystem: FileSystem = {
  async create(path) {
    return new NodeHandle(await open(path, 'wx'));
  },
  async openForWrite(path) {
    return new NodeHandle(await open(path, 'r+'));
  },
  readFile: (path) => readFile(path),
  readdir: (dir) => readdir(dir),
  async mkdir(dir) {
    await mkdir(dir, { recursive: true });
  },
  rename: (from, to) => rename(from, to),
  unlink: (path) => unlink(path),
  async syncDir(dir) {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};

/** Writes all of bytes at position, looping over short writes; a write of 0 bytes is an error. */
export async function writeFully(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const written = await handle.write(done === 0 ? bytes : bytes.subarray(done), position + done);
    if (written <= 0) throw Object.assign(new Error(`write made no progress at offset ${position + done}`), { code: 'EIO' });
    done += written;
  }
}
