import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RuntimeAction, RuntimeEvent } from '../core/ports.ts';
import type { TaskId } from '../core/state/types.ts';
import { EventQueue } from './event-queue.ts';
import { Rng } from './rng.ts';
import { calmRuntime, SimRuntime, type RuntimeConfig, type RuntimeTicket } from './runtime.ts';

const t = (id: string) => id as TaskId;
const spec = (image: string) => ({ image, command: [], args: [], env: {}, limits: { cpuMillis: 0, memoryBytes: 0 }, mounts: [], secrets: [], ports: [], stopGracePeriodMs: 1000 });

class World {
  readonly queue = new EventQueue<{ event: RuntimeEvent; ticket: RuntimeTicket }>();
  readonly seen: { atUs: number; event: RuntimeEvent }[] = [];
  readonly runtime: SimRuntime;
  constructor(config: RuntimeConfig = calmRuntime, seed = 'rt') {
    this.runtime = new SimRuntime(new Rng(seed), config, (atUs, event, ticket) => this.queue.schedule(atUs, { event, ticket }));
  }
  act(action: RuntimeAction): void {
    this.runtime.perform(action, this.queue.nowUs);
  }
  run(untilUs: number): void {
    while (this.queue.peekTimeUs() <= untilUs) {
      const { event, ticket } = this.queue.pop()!;
      if (this.runtime.accept(event, ticket)) this.seen.push({ atUs: this.queue.nowUs, event });
    }
  }
  last(type: RuntimeEvent['type']): RuntimeEvent | undefined {
    return [...this.seen].reverse().find((s) => s.event.type === type)?.event;
  }
}

function startTask(w: World, id: string, image: string): void {
  w.act({ type: 'pull', taskId: t(id), image });
  w.run(w.queue.nowUs + 10_000_000);
  w.act({ type: 'create', taskId: t(id), spec: spec(image) });
  w.run(w.queue.nowUs + 10_000_000);
  w.act({ type: 'start', taskId: t(id) });
}

test('pull, create and start each answer exactly once, and the container runs', () => {
  const w = new World();
  startTask(w, 't1', 'web:1');
  w.run(w.queue.nowUs + 10_000_000);
  assert.deepEqual(w.seen.map((s) => s.event.type), ['pulled', 'created', 'started']);
  assert.deepEqual(w.runtime.list(), [{ taskId: 't1', state: 'running', exitCode: null }]);
});

test('a missing image fails to pull with a message naming it', () => {
  const w = new World();
  w.act({ type: 'pull', taskId: t('t1'), image: 'web:missing' });
  w.run(10_000_000);
  assert.deepEqual(w.last('pulled'), { type: 'pulled', taskId: 't1', ok: false, error: 'image web:missing not found in registry' });
});

test('a broken image exits with code 1 soon after it starts', () => {
  const w = new World();
  startTask(w, 't1', 'web:broken');
  w.run(w.queue.nowUs + 10_000_000);
  assert.deepEqual(w.last('exited'), { type: 'exited', taskId: 't1', exitCode: 1, oomKilled: false });
});

test('a scheduled crash is void once the container was stopped', () => {
  const w = new World({ ...calmRuntime, crashMeanUs: 50_000_000 });
  startTask(w, 't1', 'web:1');
  while (!w.last('started')) w.run(w.queue.peekTimeUs());
  w.act({ type: 'stop', taskId: t('t1'), graceMs: 10_000 });
  w.run(w.queue.nowUs + 60_000_000);
  const exits = w.seen.filter((s) => s.event.type === 'exited');
  assert.equal(exits.length, 1, 'only the stop produced an exit');
  assert.equal(w.runtime.fired.crash, 0);
});

test('running containers crash on their own when the crash rate is on, and some are OOM kills', () => {
  const w = new World({ ...calmRuntime, crashMeanUs: 1_000_000, oomFraction: 0.5 }, 'crashy');
  for (let i = 0; i < 40; i++) startTask(w, `t${i}`, 'web:1');
  w.run(w.queue.nowUs + 120_000_000);
  assert.ok(w.runtime.fired.crash + w.runtime.fired.oomKill >= 30, JSON.stringify(w.runtime.fired));
  assert.ok(w.runtime.fired.oomKill > 0);
  const oom = w.seen.find((s) => s.event.type === 'exited' && s.event.oomKilled);
  assert.equal(oom && oom.event.type === 'exited' && oom.event.exitCode, 137);
});

test('an unhealthy image fails its probes; a healthy one passes unless health flaps', () => {
  const w = new World();
  startTask(w, 'sick', 'web:unhealthy');
  startTask(w, 'fine', 'web:1');
  w.run(w.queue.nowUs + 10_000_000);
  const check = { type: 'tcp' as const, port: 80, intervalMs: 1000, timeoutMs: 500, retries: 3, startPeriodMs: 0 };
  w.act({ type: 'probe', taskId: t('sick'), check });
  w.act({ type: 'probe', taskId: t('fine'), check });
  w.run(w.queue.nowUs + 10_000_000);
  const probes = w.seen.filter((s) => s.event.type === 'probed').map((s) => s.event);
  assert.deepEqual(probes.map((p) => p.type === 'probed' && [p.taskId, p.healthy]).sort(), [['fine', true], ['sick', false]]);
});

test('a machine crash removes every container and voids outcomes in flight', () => {
  const w = new World();
  startTask(w, 't1', 'web:1');
  w.runtime.machineCrash();
  w.run(w.queue.nowUs + 10_000_000);
  assert.equal(w.last('started'), undefined);
  assert.deepEqual(w.runtime.list(), []);
});

test('the same seed gives the same outcomes at the same times', () => {
  const run = () => {
    const w = new World({ ...calmRuntime, crashMeanUs: 2_000_000, pullFailureRate: 0.2, startFailureRate: 0.1 }, 'same');
    for (let i = 0; i < 20; i++) startTask(w, `t${i}`, `img:${i % 3}`);
    w.run(w.queue.nowUs + 30_000_000);
    return JSON.stringify(w.seen);
  };
  assert.equal(run(), run());
});
