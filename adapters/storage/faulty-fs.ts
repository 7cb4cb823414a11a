// A file-system wrapper that injects the failures real disks produce, for tests: an errno on any
// call (ENOSPC, EIO, ...), a short write (fewer bytes written than asked, no error) and a torn write
// (a prefix written, then an error, as when the disk fills in the middle of a write).
// A rule decides per call; it sees the operation, the path and, for writes, the size. Rules are
// plain functions so a test can make them stateful ("full until space is freed", "fail the 3rd fsync").

import type { FileHandle, FileSystem } from './fs.ts';
import type { FsOperation } from './memory-fs.ts';

export type Fault =
  | { readonly kind: 'error'; readonly code: string }
  | { readonly kind: 'short-write'; readonly bytes: number }
  | { readonly kind: 'torn-write'; readonly bytes: number; readonly code: string };

export type FaultRule = (operation: FsOperation, path: string, sizeBytes: number) => Fault | null;

export const fault = (code: string): Fault => ({ kind: 'error', code });

const errnoError = (code: string, operation: string, path: string): Error =>
  Object.assign(new Error(`${code}: injected fault on ${operation} ${path}`), { code });

export class FaultyFileSystem implements FileSystem {
  rule: FaultRule = () => null;
  /** Faults injected so far, by operation. */
  readonly injected = new Map<FsOperation, number>();

  constructor(private readonly inner: FileSystem) {}

  /** Throws the fault the rule picks for a call that is not a write, if any. */
  check(operation: FsOperation, path: string, sizeBytes = 0): Fault | null {
    const picked = this.rule(operation, path, sizeBytes);
    if (picked === null) return null;
    this.injected.set(operation, (this.injected.get(operation) ?? 0) + 1);
    if (picked.kind === 'error') throw errnoError(picked.code, operation, path);
    if (operation !== 'write') throw new Error(`fault ${picked.kind} applies only to writes, not ${operation}`);
    return picked;
  }

  async create(path: string): Promise<FileHandle> {
    this.check('create', path);
    return new FaultyHandle(this, path, await this.inner.create(path));
  }

  async openForWrite(path: string): Promise<FileHandle> {
    this.check('openForWrite', path);
    return new FaultyHandle(this, path, await this.inner.openForWrite(path));
  }

  async readFile(path: string): Promise<Uint8Array> {
    this.check('readFile', path);
    return this.inner.readFile(path);
  }

  async readdir(dir: string): Promise<string[]> {
    this.check('readdir', dir);
    return this.inner.readdir(dir);
  }

  async mkdir(dir: string): Promise<void> {
    this.check('mkdir', dir);
    return this.inner.mkdir(dir);
  }

  async rename(from: string, to: string): Promise<void> {
    this.check('rename', from);
    return this.inner.rename(from, to);
  }

  async unlink(path: string): Promise<void> {
    this.check('unlink', path);
    return this.inner.unlink(path);
  }

  async syncDir(dir: string): Promise<void> {
    this.check('syncDir', dir);
    return this.inner.syncDir(dir);
  }
}

class FaultyHandle implements FileHandle {
  constructor(
    private readonly fs: FaultyFileSystem,
    private readonly path: string,
    private readonly inner: FileHandle,
  ) {}

  async write(bytes: Uint8Array, position: number): Promise<number> {
    const picked = this.fs.check('write', this.path, bytes.length);
    if (picked === null) return this.inner.write(bytes, position);
    const prefix = Math.max(0, Math.min(bytes.length, picked.kind === 'error' ? 0 : picked.bytes));
    const written = prefix > 0 ? await this.inner.write(bytes.subarray(0, prefix), position) : 0;
    if (picked.kind === 'torn-write') throw errnoError(picked.code, 'write', this.path);
    return written;
  }

  async datasync(): Promise<void> {
    this.fs.check('datasync', this.path);
    return this.inner.datasync();
  }

  async sync(): Promise<void> {
    this.fs.check('sync', this.path);
    return this.inner.sync();
  }

  async truncate(lengthBytes: number): Promise<void> {
    this.fs.check('truncate', this.path);
    return this.inner.truncate(lengthBytes);
  }

  async close(): Promise<void> {
    this.fs.check('close', this.path);
    return this.inner.close();
  }
}
