// Helpers shared by the storage tests: temporary directories, entry factories, and a comparable view
// of a MemoryStorage (the model every recovered state is checked against).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeId, type Entry, type HardState, type MemoryStorage, type Snapshot } from '../../core/raft/index.ts';

export async function withTempDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'warren-storage-'));
  try {
    return await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Entries first..last of one term; their data names index, term and tag so mix-ups show. */
export function makeEntries(first: number, last: number, term: number, tag = ''): Entry[] {
  const entries: Entry[] = [];
  for (let index = first; index <= last; index++) entries.push({ index, term, type: 'normal', data: `${tag}e${index}t${term}` });
  return entries;
}

export const hardState = (term: number, commit: number, vote: string | null = null): HardState => ({ term, vote: vote === null ? null : nodeId(vote), commit });

export const conf = (...voters: string[]) => ({ voters: voters.map(nodeId), learners: [] });

export function snapshotAt(index: number, term: number, data = `state@${index}`): Snapshot {
  return { meta: { index, term, conf: conf('n1', 'n2', 'n3') }, data };
}

export interface LogView {
  readonly hardState: HardState;
  readonly snapshot: Snapshot;
  readonly entries: readonly Entry[];
}

/** Everything a MemoryStorage holds, as plain data for deepStrictEqual. */
export function viewOf(storage: MemoryStorage): LogView {
  const first = storage.firstIndex();
  const last = storage.lastIndex();
  return {
    hardState: storage.getHardState(),
    snapshot: storage.snapshot(),
    entries: last >= first ? storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER) : [],
  };
}
