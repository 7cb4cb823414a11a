// Real crashes: a child process (crash-child.ts) writes to a data directory with group commit,
// truncations, rotation and snapshots, and is killed with SIGKILL at a random moment; the parent
// reopens the directory and checks that every acknowledged operation is there, byte for byte, and
// that the state is exactly "acknowledged operations plus a prefix of the unacknowledged ones".
// Several lives run on the same directory, each recovering what the previous one left.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openStorage, type Recovered } from './index.ts';
import { digestStep, entryData, FNV_OFFSET } from './crash-protocol.ts';
import { withTempDir } from './testing.ts';

type Operation = { k: 'a'; first: number; last: number; term: number; commit: number } | { k: 's'; index: number };

interface Life {
  readonly recoveredLast: number;
  readonly intents: Operation[];
  readonly acknowledged: number;
  readonly stderr: string;
}

const childPath = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

/** Runs one life of the child and SIGKILLs it killAfterMs after it reported being ready. */
function runLife(dir: string, killAfterMs: number): Promise<Life> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', childPath, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | null = null;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (timer === null && stdout.startsWith('R ')) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') return reject(new Error(`child ended on its own (code ${code}): ${stderr}`));
      const lines = stdout.split('\n');
      const complete = stdout.endsWith('\n') ? lines : lines.slice(0, -1);
      const intents: Operation[] = [];
      let acknowledged = 0;
      let recoveredLast = -1;
      for (const line of complete.filter((l) => l.length > 0)) {
        const [tag, id] = line.split(' ', 2) as [string, string];
        const json = line.slice(tag.length + id.length + 2);
        if (tag === 'R') recoveredLast = Number(id);
        else if (tag === 'I') {
          assert.equal(Number(id), intents.length, 'intents are numbered in order');
          intents.push(JSON.parse(json) as Operation);
        } else if (tag === 'A') {
          assert.equal(Number(id), acknowledged, 'acknowledgements come in issue order');
          acknowledged++;
        }
      }
      resolve({ recoveredLast, intents, acknowledged, stderr });
    });
  });
}

/** The parent's model of the log: term per index, hard state. */
class Model {
  terms: number[] = [0];
  hardState = { term: 0, vote: null as string | null, commit: 0 };

  apply(operation: Operation): void {
    if (operation.k === 's') return; // a snapshot changes what is stored, not what the log says
    this.terms.length = operation.first;
    for (let index = operation.first; index <= operation.last; index++) this.terms.push(operation.term);
    this.hardState = { term: operation.term, vote: 'n1', commit: operation.commit };
  }

  lastIndex(): number {
    return this.terms.length - 1;
  }

  /** Why `recovered` is not this model's state, or null if it is. */
  mismatch(recovered: Recovered): string | null {
    const snapshotIndex = recovered.snapshot?.meta.index ?? 0;
    const last = recovered.entries.at(-1)?.index ?? snapshotIndex;
    if (last !== this.lastIndex()) return `last index ${last}, model ${this.lastIndex()}`;
    if (snapshotIndex > 0) {
      let digest = FNV_OFFSET;
      for (let index = 1; index <= snapshotIndex; index++) digest = digestStep(digest, index, this.terms[index]!);
      if (recovered.snapshot!.data !== `${snapshotIndex}:${digest}`) return `snapshot at ${snapshotIndex} does not match the model`;
    }
    for (const entry of recovered.entries) {
      if (entry.term !== this.terms[entry.index] || entry.data !== entryData(entry.index, entry.term)) return `entry ${entry.index} differs`;
    }
    const hs = recovered.hardState;
    if (hs.term !== this.hardState.term || hs.vote !== this.hardState.vote || hs.commit !== this.hardState.commit) return `hard state ${JSON.stringify(hs)}, model ${JSON.stringify(this.hardState)}`;
    return null;
  }
}

test('SIGKILL at random moments never loses an acknowledged write, across several lives of one directory', { timeout: 60_000 }, () =>
  withTempDir(async (dir) => {
    const seed = Date.now() % 1_000_000;
    let random = seed;
    const nextKillMs = (): number => {
      random = (Math.imul(random, 1103515245) + 12345) >>> 0;
      return 100 + (random % 300);
    };
    const model = new Model();
    let totalAcknowledged = 0;
    let totalUnacknowledgedKept = 0;
    for (let life = 0; life < 6; life++) {
      const killAfterMs = nextKillMs();
      const { recoveredLast, intents, acknowledged, stderr } = await runLife(dir, killAfterMs);
      const context = `seed ${seed}, life ${life}, killed after ${killAfterMs} ms, ${acknowledged}/${intents.length} acknowledged; ${stderr}`;
      assert.equal(recoveredLast, model.lastIndex(), `the child recovered what the parent saw (${context})`);
      for (const operation of intents.slice(0, acknowledged)) model.apply(operation);
      const { storage, recovered } = await openStorage(dir, { segmentSizeBytes: 32 * 1024 });
      await storage.close();
      let kept = 0;
      let problem = model.mismatch(recovered);
      while (problem !== null && acknowledged + kept < intents.length) {
        model.apply(intents[acknowledged + kept]!);
        kept++;
        problem = model.mismatch(recovered);
      }
      assert.equal(problem, null, `recovered state is not acknowledged + a prefix of the rest (${context})`);
      totalAcknowledged += acknowledged;
      totalUnacknowledgedKept += kept;
    }
    assert.ok(totalAcknowledged > 200, `only ${totalAcknowledged} operations acknowledged in all lives (seed ${seed}, ${totalUnacknowledgedKept} unacknowledged kept)`);
  }));
