import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RuntimeEvent } from '../../../core/ports.ts';
import type { HealthCheck } from '../../../core/state/types.ts';
import { taskPaths } from './records.ts';
import type { ProcessRuntime } from './runtime.ts';
import { EventRecorder, pidRuns, Sandbox, shSpec, sleep, tid, until } from './testing.ts';

// One task serves HTTP (and so TCP) on a free port; another is a plain shell for exec probes.
const server = `
const http = require('node:http');
http.createServer((req, res) => {
  if (req.url === '/hang') return;
  res.statusCode = req.url === '/ok' ? 200 : req.url === '/moved' ? 302 : 503;
  res.end();
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
`;

const timing = { intervalMs: 1_000, timeoutMs: 300, retries: 1, startPeriodMs: 0 };
const http = (port: number, path: string): HealthCheck => ({ type: 'http', port, path, ...timing });
const tcp = (port: number): HealthCheck => ({ type: 'tcp', port, ...timing });
const exec = (...command: string[]): HealthCheck => ({ type: 'exec', command, ...timing });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

let sandbox: Sandbox;
let events: EventRecorder;
let runtime: ProcessRuntime;
let port: number;
let closedPort: number;

async function probe(taskId: string, check: HealthCheck): Promise<{ healthy: boolean; message: string }> {
  const from = events.events.length;
  await runtime.act({ type: 'probe', taskId: tid(taskId), check });
  const event = events.events.slice(from).find((e) => e.type === 'probed' && e.taskId === taskId) as Extract<RuntimeEvent, { type: 'probed' }>;
  return { healthy: event.healthy, message: event.message };
}

before(async () => {
  sandbox = new Sandbox();
  events = new EventRecorder();
  runtime = sandbox.open(events);
  [port, closedPort] = [await freePort(), await freePort()];
  const node = `process:${process.execPath}`;
  await runtime.act({ type: 'create', taskId: tid('web'), spec: { ...shSpec(''), image: node, args: ['-e', server], env: { PORT: String(port) } } });
  await runtime.act({ type: 'start', taskId: tid('web') });
  await runtime.act({ type: 'create', taskId: tid('shell'), spec: shSpec('touch ready; exec sleep 30', { env: { MARKER: 'from-the-task-env' } }) });
  await runtime.act({ type: 'start', taskId: tid('shell') });
  const deadline = Date.now() + 5_000;
  while (!(await probe('web', tcp(port))).healthy) {
    if (Date.now() > deadline) throw new Error('the web task never listened');
    await sleep(25);
  }
});
after(() => sandbox.cleanup());

describe('http probes', () => {
  test('a 2xx or 3xx answer is healthy, other statuses are not', async () => {
    assert.deepEqual(await probe('web', http(port, '/ok')), { healthy: true, message: 'HTTP 200' });
    assert.deepEqual(await probe('web', http(port, '/moved')), { healthy: true, message: 'HTTP 302' });
    assert.deepEqual(await probe('web', http(port, '/broken')), { healthy: false, message: 'HTTP 503' });
  });

  test('a refused connection and an answer slower than the timeout are unhealthy', async () => {
    const refused = await probe('web', http(closedPort, '/ok'));
    assert.equal(refused.healthy, false);
    assert.match(refused.message, /ECONNREFUSED/);
    const startedAt = Date.now();
    assert.deepEqual(await probe('web', http(port, '/hang')), { healthy: false, message: 'timed out after 300 ms' });
    assert.ok(Date.now() - startedAt < 1_500);
  });
});

describe('tcp probes', () => {
  test('an accepted connection is healthy, a refused one is not', async () => {
    assert.deepEqual(await probe('web', tcp(port)), { healthy: true, message: `connected to 127.0.0.1:${port}` });
    const refused = await probe('web', tcp(closedPort));
    assert.equal(refused.healthy, false);
    assert.match(refused.message, /ECONNREFUSED/);
  });
});

describe('exec probes', () => {
  test('the command runs in the task directory with the task environment; exit 0 is healthy', async () => {
    assert.deepEqual(await probe('shell', exec('sh', '-c', 'test -f ready && echo "$MARKER"')), { healthy: true, message: 'from-the-task-env' });
  });

  test('a non-zero exit is unhealthy with its output, a command past its timeout is killed', async () => {
    assert.deepEqual(await probe('shell', exec('sh', '-c', 'echo broken >&2; exit 2')), { healthy: false, message: 'exit code 2: broken' });
    const startedAt = Date.now();
    assert.deepEqual(await probe('shell', exec('sh', '-c', 'echo $$ > probe.pid; sleep 5')), { healthy: false, message: 'timed out after 300 ms' });
    assert.ok(Date.now() - startedAt < 1_500);
    const probePid = Number(readFileSync(join(taskPaths(sandbox.stateDir, 'shell').work, 'probe.pid'), 'utf8'));
    await until(() => !pidRuns(probePid), 'the timed-out probe command to be killed');
    const missing = await probe('shell', exec('no-such-program-warren'));
    assert.equal(missing.healthy, false);
    assert.match(missing.message, /ENOENT/);
  });
});

test('a probe of a task with no running process is unhealthy at once', async () => {
  assert.deepEqual(await probe('nothing', exec('true')), { healthy: false, message: 'no such container' });
  await runtime.act({ type: 'create', taskId: tid('idle'), spec: shSpec('true') });
  assert.deepEqual(await probe('idle', exec('true')), { healthy: false, message: 'container is created' });
});
