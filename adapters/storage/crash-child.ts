// The child process of crash.test.ts: opens a data directory and writes to it as fast as it can,
// with several appends in flight (so batches are group-committed), occasional Raft truncations and
// local snapshots (so segments rotate and get compacted), until the parent kills it with SIGKILL.
// Protocol on stdout, one line each (stdout is a pipe, written synchronously on Linux, so a line the
// parent reads was written before anything the child did next):
//   R <lastIndex>              recovered and about to write
//   I <id> <json operation>    about to issue an operation
//   A <id>                     the operation is durable (its promise resolved)
// Operations: {"k":"a","first","last","term","commit"} appends entries first..last of one term
// (replacing any suffix from `first`) with hard state {term, vote n1, commit};
// {"k":"s","index"} saves a local snapshot at index whose data is entryDigest(1..index).
// Entry data and snapshot data are functions of (index, term), so the parent can check every byte.

import { nodeId, type Entry } from '../../core/raft/index.ts';
import { openStorage } from './index.ts';
import { digestStep, entryData, FNV_OFFSET } from './crash-protocol.ts';

const dir = process.argv[2];
if (!dir) throw new Error('usage: crash-child.ts DIR');
const inFlightLimit = 8;
const snapshotEveryEntries = 300;

const { storage, recovered } = await openStorage(dir, { segmentSizeBytes: 32 * 1024 });
let snapshotIndex = recovered.snapshot?.meta.index ?? 0;
let snapshotDigest = snapshotIndex > 0 ? Number(recovered.snapshot!.data.split(':')[1]) : FNV_OFFSET;
const terms = new Map<number, number>();
for (const entry of recovered.entries) terms.set(entry.index, entry.term);
let lastQueued = recovered.entries.at(-1)?.index ?? snapshotIndex;
let term = Math.max(recovered.hardState.term, recovered.entries.at(-1)?.term ?? 0, 1);
let commit = recovered.hardState.commit;
/** The commit index known durable (acknowledged): a snapshot covers only durable, committed entries. */
let durableCommit = commit;
let nextId = 0;
let inFlight = 0;
let random = (Number(process.pid) * 2654435761) >>> 0;
const nextRandom = (): number => {
  random = (Math.imul(random, 1103515245) + 12345) >>> 0;
  return random / 4294967296;
};

process.stdout.write(`R ${lastQueued}\n`);

function nextOperation(): { json: string; run: () => Promise<void> } {
  if (lastQueued - snapshotIndex > snapshotEveryEntries && durableCommit > snapshotIndex) {
    const index = durableCommit;
    const snapshotTerm = terms.get(index)!;
    for (let i = snapshotIndex + 1; i <= index; i++) snapshotDigest = digestStep(snapshotDigest, i, terms.get(i)!);
    for (let i = snapshotIndex + 1; i <= index; i++) terms.delete(i);
    snapshotIndex = index;
    const data = `${index}:${snapshotDigest}`;
    const snapshot = { meta: { index, term: snapshotTerm, conf: { voters: [], learners: [] } }, data };
    return { json: JSON.stringify({ k: 's', index }), run: () => storage.saveSnapshot(snapshot) };
  }
  let first = lastQueued + 1;
  let count = 1 + Math.floor(nextRandom() * 4);
  if (nextRandom() < 0.05 && lastQueued - 2 > commit && lastQueued - 1 > snapshotIndex) {
    term++;
    first = lastQueued - 1;
    count = 3;
  }
  const last = first + count - 1;
  for (let i = first; i <= Math.max(last, lastQueued); i++) terms.delete(i);
  const entries: Entry[] = [];
  for (let index = first; index <= last; index++) {
    terms.set(index, term);
    entries.push({ index, term, type: 'normal', data: entryData(index, term) });
  }
  lastQueued = last;
  commit = Math.max(commit, last - 3);
  const hardState = { term, vote: nodeId('n1'), commit };
  const run = async (): Promise<void> => {
    await storage.append({ entries, hardState, snapshot: null });
    durableCommit = hardState.commit;
  };
  return { json: JSON.stringify({ k: 'a', first, last, term, commit }), run };
}

function issue(): void {
  while (inFlight < inFlightLimit) {
    const id = nextId++;
    const operation = nextOperation();
    process.stdout.write(`I ${id} ${operation.json}\n`);
    inFlight++;
    operation.run().then(
      () => {
        process.stdout.write(`A ${id}\n`);
        inFlight--;
        issue();
      },
      (error: unknown) => {
        process.stderr.write(`operation ${id} failed: ${String(error)}\n`);
        process.exit(3);
      },
    );
  }
}

issue();
