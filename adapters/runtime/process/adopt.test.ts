import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import type { RuntimeEvent } from '../../../core/ports.ts';
import { findGroupLeadersWithArgument, signalGroup } from './proc.ts';
import { taskPaths } from './records.ts';
import type { ProcessRuntime } from './runtime.ts';
import { EventRecorder, pidRuns, Sandbox, shSpec, tid, until } from './testing.ts';

let sandbox: Sandbox;

beforeEach(() => {
  sandbox = new Sandbox();
});
afterEach(() => sandbox.cleanup());

const paths = (taskId: string) => taskPaths(sandbox.stateDir, taskId);
const waitForGo = (code: number): string => `while [ ! -f go ]; do sleep 0.02; done; exit ${code}`;
const letGo = (taskId: string): void => writeFileSync(join(paths(taskId).work, 'go'), '');
const shims = (taskId: string): number[] => findGroupLeadersWithArgument(paths(taskId).exitStatus);

async function createAndStart(runtime: ProcessRuntime, taskId: string, script: string | null): Promise<void> {
  const spec = script === null ? { ...shSpec(''), image: 'process:sleep', args: ['30'] } : shSpec(script);
  await runtime.act({ type: 'create', taskId: tid(taskId), spec });
  await runtime.act({ type: 'start', taskId: tid(taskId) });
}

function editRecord(taskId: string, change: Record<string, unknown>): void {
  const record = JSON.parse(readFileSync(paths(taskId).record, 'utf8'));
  writeFileSync(paths(taskId).record, JSON.stringify({ ...record, ...change }));
}

const exitCodes = (events: EventRecorder, taskId: string): number[] =>
  events.of(tid(taskId), 'exited').map((e) => (e as Extract<RuntimeEvent, { type: 'exited' }>).exitCode);

test('a restarted runtime adopts what still runs, reports what ended meanwhile, and starts nothing twice', async () => {
  const before = new EventRecorder();
  const first = sandbox.open(before);
  await createAndStart(first, 'a', waitForGo(4)); // still running; ends after the restart
  await createAndStart(first, 'b', waitForGo(5)); // ends on its own while the daemon is down
  await first.act({ type: 'create', taskId: tid('c'), spec: shSpec('exit 0') }); // created, never started
  await createAndStart(first, 'd', null); // still running; stopped after the restart
  await createAndStart(first, 'e', 'sleep 30'); // SIGKILLed while the daemon is down
  const groups = Object.fromEntries(['a', 'b', 'd', 'e'].map((id) => [id, first.processGroupOf(tid(id))!]));
  first.close();
  const eventsAtClose = before.events.length;

  letGo('b');
  signalGroup(groups.e!, 'SIGKILL');
  await until(() => !pidRuns(groups.b!) && !pidRuns(groups.e!), 'b and e to end');

  const after = new EventRecorder();
  const second = sandbox.open(after);
  assert.deepEqual(second.list(), [
    { taskId: 'a', state: 'running', exitCode: null },
    { taskId: 'b', state: 'exited', exitCode: 5 },
    { taskId: 'c', state: 'created', exitCode: null },
    { taskId: 'd', state: 'running', exitCode: null },
    { taskId: 'e', state: 'exited', exitCode: 137 },
  ]);
  assert.equal(second.processGroupOf(tid('a')), groups.a);
  assert.deepEqual(shims('a'), [groups.a], 'one process for the task, the one started before the restart');
  assert.deepEqual(after.events, [], 'what ended before the restart is reported by list(), not by events');

  letGo('a');
  assert.deepEqual(await after.wait((e) => e.type === 'exited' && e.taskId === 'a'), { type: 'exited', taskId: 'a', exitCode: 4, oomKilled: false });

  await second.act({ type: 'stop', taskId: tid('d'), graceMs: 5_000 });
  assert.deepEqual(exitCodes(after, 'd'), [143]);
  assert.equal(pidRuns(groups.d!), false);

  await second.act({ type: 'start', taskId: tid('c') });
  assert.deepEqual(await after.wait((e) => e.type === 'exited' && e.taskId === 'c'), { type: 'exited', taskId: 'c', exitCode: 0, oomKilled: false });
  assert.equal(before.events.length, eventsAtClose, 'a closed runtime emits nothing');
});

test('a recorded pid now naming another process (pid reuse) or a record from an earlier boot is not adopted, and not signalled', async () => {
  const first = sandbox.open(new EventRecorder());
  await createAndStart(first, 'reused', 'sleep 30');
  await createAndStart(first, 'rebooted', 'sleep 30');
  const reused = first.processGroupOf(tid('reused'))!;
  const rebooted = first.processGroupOf(tid('rebooted'))!;
  first.close();
  // The recorded pids run, but the records describe other processes: a different start time, another boot.
  editRecord('reused', { startTicks: '1' });
  editRecord('rebooted', { bootId: 'an-earlier-boot' });

  const events = new EventRecorder();
  const second = sandbox.open(events);
  assert.deepEqual(second.list(), [
    { taskId: 'rebooted', state: 'exited', exitCode: null },
    { taskId: 'reused', state: 'exited', exitCode: 137 },
  ]);
  await second.act({ type: 'stop', taskId: tid('reused'), graceMs: 0 });
  await second.act({ type: 'remove', taskId: tid('reused') });
  await second.act({ type: 'remove', taskId: tid('rebooted') });
  assert.ok(pidRuns(reused) && pidRuns(rebooted), 'processes that are not the tasks\' were left alone');
  assert.deepEqual(second.list(), []);
});

test('a record caught between "about to spawn" and "spawned" finds its process by its command line', async () => {
  const first = sandbox.open(new EventRecorder());
  await createAndStart(first, 'spawned', null);
  await first.act({ type: 'create', taskId: tid('never'), spec: shSpec('exit 0') });
  const group = first.processGroupOf(tid('spawned'))!;
  first.close();
  // As if the daemon died right after the spawn, before it recorded the pid; and before a spawn.
  editRecord('spawned', { state: 'starting', pid: null, startTicks: null, bootId: null });
  editRecord('never', { state: 'starting' });

  const events = new EventRecorder();
  const second = sandbox.open(events);
  assert.deepEqual(second.list(), [
    { taskId: 'never', state: 'exited', exitCode: null },
    { taskId: 'spawned', state: 'running', exitCode: null },
  ]);
  assert.equal(second.processGroupOf(tid('spawned')), group);
  assert.equal(JSON.parse(readFileSync(paths('spawned').record, 'utf8')).pid, group, 'the adoption is recorded');
  await second.act({ type: 'stop', taskId: tid('spawned'), graceMs: 5_000 });
  assert.deepEqual(exitCodes(events, 'spawned'), [143]);
});

test('an unreadable record is set aside and the process it may name is killed, never left unsupervised', async () => {
  const first = sandbox.open(new EventRecorder());
  await createAndStart(first, 'garbled', null);
  const group = first.processGroupOf(tid('garbled'))!;
  first.close();
  writeFileSync(paths('garbled').record, '{"format": 1, "taskId": "garb');

  const second = sandbox.open(new EventRecorder());
  assert.deepEqual(second.list(), []);
  await until(() => !pidRuns(group), 'the unsupervised process to be killed');
  assert.equal(existsSync(`${paths('garbled').record}.unreadable`), true);
});
