import assert from 'node:assert/strict';
import { existsSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { isMissingImageError } from '../../../core/agent/index.ts';
import type { RuntimeEvent } from '../../../core/ports.ts';
import { taskPaths } from './records.ts';
import type { ProcessRuntime } from './runtime.ts';
import { EventRecorder, pidRuns, Sandbox, shSpec, sleep, tid, until } from './testing.ts';

let sandbox: Sandbox;
let events: EventRecorder;
let runtime: ProcessRuntime;
/** Every readSecret call, as [name, taskId]. */
let secretReads: [string, string][];

beforeEach(() => {
  sandbox = new Sandbox();
  events = new EventRecorder();
  secretReads = [];
  // Like a manager: secret db is given to task t1 only.
  runtime = sandbox.open(events, {
    readSecret: async (name, taskId) => {
      secretReads.push([name, taskId]);
      if (name !== 'db') throw new Error('no such secret');
      if (taskId !== 't1') throw new Error(`task ${taskId} does not use it`);
      return 'p4ss-w0rd';
    },
  });
});
afterEach(() => sandbox.cleanup());

const isExit = (taskId: string) => (e: RuntimeEvent): boolean => e.type === 'exited' && e.taskId === taskId;
const paths = (taskId: string) => taskPaths(sandbox.stateDir, taskId);

async function run(taskId: string, script: string, overrides: Parameters<typeof shSpec>[1] = {}): Promise<void> {
  await runtime.act({ type: 'create', taskId: tid(taskId), spec: shSpec(script, overrides) });
  await runtime.act({ type: 'start', taskId: tid(taskId) });
  assert.deepEqual(events.of(tid(taskId), 'started').at(-1), { type: 'started', taskId, ok: true, error: null });
}

const untilOutput = (taskId: string, text: string): Promise<void> =>
  until(() => readFileSync(paths(taskId).stdout, 'utf8') === text, `${taskId} to print ${JSON.stringify(text)}`);

describe('pull: an image names a program on this machine', () => {
  test('a process: image whose program is on PATH pulls', async () => {
    await runtime.act({ type: 'pull', taskId: tid('t1'), image: 'process:sh' });
    assert.deepEqual(events.events, [{ type: 'pulled', taskId: 't1', ok: true, error: null }]);
  });

  test('a missing executable, an unrunnable file and a non-process image fail as "image ... not found" (rejected by the agent)', async () => {
    await runtime.act({ type: 'pull', taskId: tid('t1'), image: 'process:no-such-program-warren' });
    const plainFile = join(sandbox.stateDir, 'plain-file');
    writeFileSync(plainFile, 'not a program', { mode: 0o644 });
    await runtime.act({ type: 'pull', taskId: tid('t2'), image: `process:${plainFile}` });
    await runtime.act({ type: 'pull', taskId: tid('t3'), image: 'nginx:1.25' });
    const errors = events.events.map((e) => (e.type === 'pulled' && !e.ok ? e.error : 'ok'));
    assert.match(errors[0]!, /^image process:no-such-program-warren not found: no executable "no-such-program-warren" on PATH/);
    assert.equal(errors[1], `image process:${plainFile} not found: ${plainFile} is not an executable file`);
    assert.match(errors[2]!, /^image nginx:1\.25 not found: the process runtime runs only images named process:<executable>/);
    for (const error of errors) assert.ok(isMissingImageError(error!), error!);
  });
});

describe('create and start', () => {
  test('the process gets its env and its own working directory, its output goes to the logs, and its exit comes unasked with its code', async () => {
    await run('t1', 'echo "$GREETING"; pwd; echo oops >&2; exit 3', { env: { GREETING: 'hello' } });
    const exited = await events.wait(isExit('t1'));
    assert.deepEqual(exited, { type: 'exited', taskId: 't1', exitCode: 3, oomKilled: false });
    assert.deepEqual(events.events.map((e) => e.type), ['created', 'started', 'exited']);
    assert.equal(readFileSync(paths('t1').stdout, 'utf8'), `hello\n${realpathSync(paths('t1').work)}\n`);
    assert.equal(readFileSync(paths('t1').stderr, 'utf8'), 'oops\n');
    assert.deepEqual(runtime.list(), [{ taskId: 't1', state: 'exited', exitCode: 3 }]);
  });

  test('a program that ends at once is still reported started before exited, with exit code 0', async () => {
    await runtime.act({ type: 'create', taskId: tid('t1'), spec: { ...shSpec(''), image: 'process:true', args: [] } });
    await runtime.act({ type: 'start', taskId: tid('t1') });
    await events.wait(isExit('t1'));
    assert.deepEqual(events.events.map((e) => e.type), ['created', 'started', 'exited']);
    assert.equal(events.of(tid('t1'), 'exited').length, 1);
    assert.deepEqual(events.events[2], { type: 'exited', taskId: 't1', exitCode: 0, oomKilled: false });
  });

  test('spec.command replaces the image program and spec.args follow it', async () => {
    await runtime.act({ type: 'create', taskId: tid('t1'), spec: { ...shSpec(''), image: 'process:true', command: ['sh', '-c', 'echo "$0 $1"'], args: ['a', 'b'] } });
    await runtime.act({ type: 'start', taskId: tid('t1') });
    await events.wait(isExit('t1'));
    assert.equal(readFileSync(paths('t1').stdout, 'utf8'), 'a b\n');
  });

  test('a crash by a signal is reported unasked as 128 + the signal number', async () => {
    await run('t1', 'kill -SEGV $$');
    assert.deepEqual(await events.wait(isExit('t1')), { type: 'exited', taskId: 't1', exitCode: 139, oomKilled: false });
  });

  test('a second create of a task, a start of an unknown or started task, and a missing command program fail with a reason', async () => {
    await run('t1', 'sleep 30');
    await runtime.act({ type: 'create', taskId: tid('t1'), spec: shSpec('true') });
    await runtime.act({ type: 'start', taskId: tid('t1') });
    await runtime.act({ type: 'start', taskId: tid('t2') });
    await runtime.act({ type: 'create', taskId: tid('t3'), spec: { ...shSpec(''), command: ['no-such-program-warren'] } });
    await runtime.act({ type: 'create', taskId: tid('../escape'), spec: shSpec('true') });
    const failures = events.events.filter((e) => (e.type === 'created' || e.type === 'started') && !e.ok).map((e) => (e as { error: string }).error);
    assert.deepEqual(failures.slice(0, 3), [
      'a container for task t1 already exists (running); remove it first',
      'container is running, not created',
      'no such container',
    ]);
    assert.match(failures[3]!, /^cannot run command program: no executable "no-such-program-warren" on PATH/);
    assert.match(failures[4]!, /cannot name a directory/);
    assert.equal(existsSync(paths('t3').record), false);
    assert.deepEqual(runtime.list().map((c) => [c.taskId, c.state]), [['t1', 'running']]);
  });
});

// A stop that never ends must fail its test, not hang the suite.
describe('stop: SIGTERM to the process group, SIGKILL after the grace period', { timeout: 10_000 }, () => {
  test('a program that handles SIGTERM exits with its own code, reported once, as the outcome of the stop', async () => {
    await run('t1', 'trap "exit 7" TERM; echo ready; while :; do sleep 0.05; done');
    await untilOutput('t1', 'ready\n');
    const startedAt = Date.now();
    await runtime.act({ type: 'stop', taskId: tid('t1'), graceMs: 5_000 });
    assert.ok(Date.now() - startedAt < 2_000, 'the stop did not wait for the grace period');
    assert.deepEqual(events.of(tid('t1'), 'exited'), [{ type: 'exited', taskId: 't1', exitCode: 7, oomKilled: false }]);
    await sleep(150);
    assert.equal(events.of(tid('t1'), 'exited').length, 1, 'no unasked exited besides the stop outcome');
  });

  test('a program killed by SIGTERM reports 143, even when the stop follows the start at once', async () => {
    // `started` waits until the shim runs the program, or the SIGTERM would reach the shim alone.
    const startedAt = Date.now();
    for (const id of ['t1', 't2', 't3', 't4', 't5']) {
      await runtime.act({ type: 'create', taskId: tid(id), spec: { ...shSpec(''), image: 'process:sleep', args: ['30'] } });
      await runtime.act({ type: 'start', taskId: tid(id) });
      await runtime.act({ type: 'stop', taskId: tid(id), graceMs: 5_000 });
      assert.deepEqual(events.of(tid(id), 'exited'), [{ type: 'exited', taskId: id, exitCode: 143, oomKilled: false }]);
    }
    assert.ok(Date.now() - startedAt < 2_500, 'no stop waited out its grace period');
  });

  test('a program that ignores SIGTERM is SIGKILLed after the grace period and reports 137', async () => {
    await run('t1', 'trap "" TERM; echo ready; while :; do sleep 0.05; done');
    await untilOutput('t1', 'ready\n');
    const group = runtime.processGroupOf(tid('t1'))!;
    const startedAt = Date.now();
    await runtime.act({ type: 'stop', taskId: tid('t1'), graceMs: 300 });
    assert.ok(Date.now() - startedAt >= 290, 'SIGKILL came before the grace period ended');
    assert.deepEqual(events.of(tid('t1'), 'exited'), [{ type: 'exited', taskId: 't1', exitCode: 137, oomKilled: false }]);
    assert.equal(pidRuns(group), false);
  });

  test('stopping a task whose process already ended reports its exit code at once', async () => {
    await run('t1', 'exit 4');
    await events.wait(isExit('t1'));
    await runtime.act({ type: 'stop', taskId: tid('t1'), graceMs: 5_000 });
    assert.deepEqual(events.of(tid('t1'), 'exited').map((e) => (e as { exitCode: number }).exitCode), [4, 4]);
  });

  test('processes the program leaves behind in its group end with it', async () => {
    await run('t1', 'sleep 30 & echo $! > straggler.pid; exit 0');
    await events.wait(isExit('t1'));
    const straggler = Number(readFileSync(join(paths('t1').work, 'straggler.pid'), 'utf8'));
    await until(() => !pidRuns(straggler), 'the straggler to be killed');
  });
});

describe('remove', () => {
  test('removing a running task kills it, reports only removed, and keeps its logs', async () => {
    await run('t1', 'echo started; sleep 30');
    await untilOutput('t1', 'started\n');
    const group = runtime.processGroupOf(tid('t1'))!;
    await runtime.act({ type: 'remove', taskId: tid('t1') });
    assert.deepEqual(events.events.map((e) => e.type), ['created', 'started', 'removed']);
    assert.equal(pidRuns(group), false);
    assert.deepEqual(runtime.list(), []);
    assert.equal(existsSync(paths('t1').record), false);
    assert.equal(existsSync(paths('t1').work), false);
    assert.equal(readFileSync(paths('t1').stdout, 'utf8'), 'started\n');
  });

  test('logs of removed tasks are kept for the newest maxRetainedLogs only', async () => {
    sandbox.cleanup();
    sandbox = new Sandbox();
    runtime = sandbox.open(events, { maxRetainedLogs: 1 });
    for (const id of ['t1', 't2', 't3']) {
      await run(id, 'echo hi');
      await events.wait(isExit(id));
      await runtime.act({ type: 'remove', taskId: tid(id) });
      await sleep(15); // distinct directory times
    }
    assert.deepEqual(['t1', 't2', 't3'].map((id) => existsSync(paths(id).dir)), [false, false, true]);
  });
});

describe('secrets, volumes and memory limits', () => {
  test('secrets are files readable only by the owner in the secrets directory, deleted with the task', async () => {
    await run('t1', 'cat "$WARREN_SECRETS_DIR/db-password"; stat -c %a "$WARREN_SECRETS_DIR/db-password"', {
      secrets: [{ secret: 'db', target: 'db-password' }],
    });
    await events.wait(isExit('t1'));
    assert.equal(readFileSync(paths('t1').stdout, 'utf8'), 'p4ss-w0rd400\n');
    assert.deepEqual(secretReads, [['db', 't1']], 'asked once, for the task being created');
    await runtime.act({ type: 'remove', taskId: tid('t1') });
    assert.equal(existsSync(paths('t1').secrets), false);
  });

  test('the secret source is asked for the task being created, and may refuse that task', async () => {
    await runtime.act({ type: 'create', taskId: tid('t2'), spec: shSpec('true', { secrets: [{ secret: 'db', target: 'db-password' }] }) });
    assert.deepEqual(events.events, [{ type: 'created', taskId: 't2', ok: false, error: 'secret db: task t2 does not use it' }]);
    assert.deepEqual(secretReads, [['db', 't2']]);
    assert.equal(existsSync(paths('t2').secrets), false);
  });

  test('a secret the shell cannot provide fails the create and leaves nothing behind', async () => {
    await runtime.act({ type: 'create', taskId: tid('t1'), spec: shSpec('true', { secrets: [{ secret: 'other', target: 'x' }] }) });
    assert.deepEqual(events.events, [{ type: 'created', taskId: 't1', ok: false, error: 'secret other: no such secret' }]);
    assert.equal(existsSync(paths('t1').secrets), false);
    assert.deepEqual(runtime.list(), []);
  });

  test('a volume is mounted at its target inside the working directory and named in the environment', async () => {
    await run('t1', 'echo kept > data/file; echo "$WARREN_VOLUME_APP_DATA"', { mounts: [{ volume: 'app-data', target: '/data', readOnly: false }] });
    await events.wait(isExit('t1'));
    const volume = join(sandbox.stateDir, 'volumes', 'app-data');
    assert.equal(readFileSync(paths('t1').stdout, 'utf8'), `${volume}\n`);
    await runtime.act({ type: 'remove', taskId: tid('t1') });
    assert.equal(readFileSync(join(volume, 'file'), 'utf8'), 'kept\n', 'the volume outlives the task');
  });

  test('a process group above its memory limit is killed and reported OOM-killed with 137', async () => {
    const grow = 'const a = []; setInterval(() => { if (a.length < 32) a.push(Buffer.alloc(16 << 20, 1)); }, 20);';
    await runtime.act({
      type: 'create', taskId: tid('t1'),
      spec: { ...shSpec(''), image: `process:${process.execPath}`, args: ['-e', grow], limits: { cpuMillis: 0, memoryBytes: 128 << 20 } },
    });
    await runtime.act({ type: 'start', taskId: tid('t1') });
    assert.deepEqual(await events.wait(isExit('t1'), 8_000), { type: 'exited', taskId: 't1', exitCode: 137, oomKilled: true });
  });
});

test('a task directory holds the record with the pid, and the record is durable JSON', async () => {
  await run('t1', 'sleep 30');
  const record = JSON.parse(readFileSync(paths('t1').record, 'utf8'));
  assert.equal(record.state, 'running');
  assert.equal(record.pid, runtime.processGroupOf(tid('t1')));
  assert.match(record.startTicks, /^\d+$/);
  assert.equal(statSync(paths('t1').record).mode & 0o777, 0o600);
});
