// The log destination: batches written once per event-loop turn, in order; flushSync writing out
// everything buffered; short writes, a descriptor that would block, one that fails, and the buffer
// bound, each through an injected writeSync.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchedLogDestination } from './log-destination.ts';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const errno = (code: string) => Object.assign(new Error(`${code}: injected`), { code });

/** A descriptor that records writes, and can write short, block or fail. */
function fakeFd() {
  const written: string[] = [];
  let behaviour: 'ok' | 'short' | 'block' | 'fail' = 'ok';
  let calls = 0;
  const writeSync = (_fd: number, buffer: Uint8Array): number => {
    calls++;
    if (behaviour === 'block') throw errno('EAGAIN');
    if (behaviour === 'fail') throw errno('EPIPE');
    const n = behaviour === 'short' ? Math.min(7, buffer.length) : buffer.length;
    written.push(Buffer.from(buffer.subarray(0, n)).toString());
    return n;
  };
  return { written, writeSync, set: (next: typeof behaviour) => (behaviour = next), calls: () => calls };
}

test('lines logged in one turn are written together, in order, on the next turn', async () => {
  const fd = fakeFd();
  const destination = new BatchedLogDestination(9, { writeSync: fd.writeSync });
  for (let i = 0; i < 5; i++) destination.write(`l${i}\n`);
  assert.deepEqual(fd.written, [], 'a log call never writes itself');
  await turn();
  assert.deepEqual(fd.written, ['l0\nl1\nl2\nl3\nl4\n']);
  destination.write('l5\n');
  destination.flushSync();
  assert.deepEqual(fd.written.join(''), 'l0\nl1\nl2\nl3\nl4\nl5\n');
  await turn();
  assert.equal(fd.calls(), 2, 'the scheduled write found nothing left');
});

test('short writes continue where they stopped', async () => {
  const fd = fakeFd();
  fd.set('short');
  const destination = new BatchedLogDestination(9, { writeSync: fd.writeSync });
  destination.write('{"msg":"first line"}\n');
  destination.write('{"msg":"second line"}\n');
  await turn();
  assert.equal(fd.written.join(''), '{"msg":"first line"}\n{"msg":"second line"}\n');
});

test('a descriptor that would block is retried later, and flushSync waits for it within its bound', async () => {
  const fd = fakeFd();
  const destination = new BatchedLogDestination(9, { writeSync: fd.writeSync, retryDelayMs: 5, maxFlushWaitMs: 30 });
  fd.set('block');
  destination.write('a\n');
  await turn();
  destination.write('b\n');
  assert.deepEqual(fd.written, []);
  fd.set('ok');
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(fd.written.join(''), 'a\nb\n', 'the retry timer wrote both, in order');

  fd.set('block');
  destination.write('c\n');
  const start = performance.now();
  destination.flushSync();
  const waitedMs = performance.now() - start;
  assert.ok(waitedMs >= 25 && waitedMs < 500, `flushSync gave up after its bound (${waitedMs.toFixed(1)} ms)`);
  fd.set('ok');
  destination.flushSync();
  assert.equal(fd.written.join(''), 'a\nb\nc\n');
  assert.equal(destination.dropped, 0);
});

test('a full buffer drops and counts lines; a failed descriptor stops writing for good', async () => {
  const fd = fakeFd();
  const destination = new BatchedLogDestination(9, { writeSync: fd.writeSync, maxBufferedBytes: 10, retryDelayMs: 1000 });
  fd.set('block');
  destination.write('12345\n');
  destination.write('67890\n'); // 12 bytes > 10
  assert.equal(destination.dropped, 1);
  fd.set('fail');
  destination.flushSync();
  assert.match(destination.failed ?? '', /EPIPE/);
  assert.equal(destination.dropped, 2, 'the buffered line is lost with the descriptor');
  destination.write('later\n');
  await turn();
  assert.equal(destination.dropped, 3);
  assert.deepEqual(fd.written, []);
});

test('on a real file, flushSync leaves every line on disk in order', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'warren-log-destination-'));
  const path = join(dir, 'log');
  const fd = openSync(path, 'a');
  try {
    const destination = new BatchedLogDestination(fd);
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 50; i++) destination.write(`${round * 50 + i}\n`);
      if (round % 3 === 0) await turn();
    }
    destination.flushSync();
    const numbers = readFileSync(path, 'utf8').trim().split('\n').map(Number);
    assert.deepEqual(numbers, Array.from({ length: 1000 }, (_, i) => i));
  } finally {
    closeSync(fd);
    await rm(dir, { recursive: true, force: true });
  }
});
