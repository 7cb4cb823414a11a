// The snapshot files of a data directory: saving one atomically, taking back one whose WAL record
// failed, and deleting those a newer one replaced. Only the newest counts at recovery.
// Invariant: `names` lists the snapshot files believed present, oldest first.

import { join } from 'node:path';
import type { Snapshot } from '../../core/raft/index.ts';
import { encodeSnapshotFile } from './codec.ts';
import { StorageError, writeFailure } from './errors.ts';
import { snapshotName, writeFileAtomically } from './files.ts';
import type { FileSystem } from './fs.ts';

export class SnapshotFiles {
  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly names: string[],
  ) {}

  get count(): number {
    return this.names.length;
  }

  /** Writes the snapshot file (temp, fsync, rename, directory fsync). */
  async save(snapshot: Snapshot, what: string): Promise<void> {
    const name = snapshotName(snapshot.meta.index, snapshot.meta.term);
    try {
      await writeFileAtomically(this.fs, this.dir, name, encodeSnapshotFile(snapshot), false);
    } catch (error) {
      throw writeFailure(error, `${what} (${name})`);
    }
    this.names.push(name);
  }

  /**
   * Removes, durably, a snapshot file saved for a batch that then failed: the log the caller goes on
   * writing does not follow it, and recovery would otherwise cut that log back to the snapshot.
   */
  async unsave(snapshot: Snapshot, cause: unknown): Promise<void> {
    const name = snapshotName(snapshot.meta.index, snapshot.meta.term);
    try {
      await this.fs.unlink(join(this.dir, name));
      await this.fs.syncDir(this.dir);
    } catch (error) {
      throw new StorageError('io-error', `could not remove ${name} after a failed write (${String(cause)}): ${String(error)}`, { cause: error });
    }
    this.names.splice(this.names.indexOf(name), 1);
  }

  /** Deletes every snapshot file but the newest; returns how many went (the caller syncs the dir). */
  async removeOlder(warn: (message: string) => void): Promise<number> {
    const doomed = this.names.splice(0, this.names.length - 1);
    for (const name of doomed) await this.fs.unlink(join(this.dir, name)).catch((error: unknown) => warn(`removing ${name}: ${String(error)}`));
    return doomed.length;
  }
}
