import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, test } from 'node:test';
import { hasExecutedChild, identify, isAlive, readStat, residentBytesByGroup, signalGroup } from './proc.ts';
import { sleep, until } from './testing.ts';

const children: ChildProcess[] = [];

function shell(script: string): number {
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  children.push(child);
  return child.pid!;
}
afterEach(() => {
  for (const child of children.splice(0)) if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
});

test('a process is named by pid and start time: the same pid with another start time is not alive', () => {
  const pid = shell('sleep 30');
  const identity = identify(pid);
  assert.match(identity.startTicks!, /^\d+$/);
  assert.equal(isAlive(identity), true);
  assert.equal(isAlive({ ...identity, startTicks: String(Number(identity.startTicks) + 1) }), false);
  assert.equal(isAlive({ ...identity, bootId: 'another-boot' }), false);
  assert.equal(readStat(pid)?.processGroup, pid, 'a detached child leads its own group');
});

test('a child that only forked (same program) does not count as executed; one that ran another program does', async () => {
  const forkedOnly = shell('( while :; do sleep 1; done ); :');
  const executed = shell('sleep 30; :');
  await until(() => hasExecutedChild(executed), 'the sleep to be executed');
  await sleep(100);
  assert.equal(hasExecutedChild(forkedOnly), false);
});

test('resident memory is summed over the processes of a group', async () => {
  const group = shell('sleep 30 & sleep 30 & wait');
  await until(() => (residentBytesByGroup(new Set([group])).get(group) ?? 0) > 0, 'the group to be measured');
  const members = residentBytesByGroup(new Set([group])).get(group)!;
  assert.ok(members > 0 && members < 64 << 20, `${members} bytes`);
  assert.equal(residentBytesByGroup(new Set([999_999_999])).size, 0);
});
