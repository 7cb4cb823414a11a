import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '../core/raft/index.ts';
import { EventQueue } from './event-queue.ts';
import type { ClientReply, ClientRequest } from './protocol.ts';
import { Rng } from './rng.ts';
import { Workload, type ClientEvent, type WorkloadConfig } from './workload.ts';

const nodeIds = [nodeId('n1'), nodeId('n2'), nodeId('n3')];
const timeoutUs = 1_000_000;

/** The clients' world: wake-ups in virtual time and a record of every request sent. */
class ClientWorld {
  readonly queue = new EventQueue<{ readonly client: number; readonly seq: number }>();
  readonly sent: { readonly atUs: number; readonly node: number; readonly request: ClientRequest }[] = [];
  readonly workload: Workload;

  constructor(config: Partial<WorkloadConfig> = {}, seed = 'clients') {
    this.workload = new Workload({ clients: 1, keys: 4, thinkMeanUs: 10_000, timeoutUs, ...config }, new Rng(seed), {
      nowUs: () => this.queue.nowUs,
      send: (node, request) => this.sent.push({ atUs: this.queue.nowUs, node, request }),
      wakeAt: (atUs, client, seq) => this.queue.schedule(atUs, { client, seq }),
      nodeIds,
    });
    this.workload.start();
  }

  get client() {
    return this.workload.clients[0]!;
  }

  /** Pop wake-ups until the client has sent `count` requests in all. */
  runUntilSent(count: number): ClientRequest {
    while (this.sent.length < count) {
      const wake = this.queue.pop();
      assert.ok(wake, `the client stopped before sending request ${count}`);
      this.workload.clients[wake.client]!.wake(wake.seq);
    }
    return this.sent[count - 1]!.request;
  }

  /** Pop wake-ups until the history holds `count` events. */
  runUntilHistory(count: number): void {
    while (this.workload.history.length < count) {
      const wake = this.queue.pop();
      assert.ok(wake, `the client stopped before history event ${count}`);
      this.workload.clients[wake.client]!.wake(wake.seq);
    }
  }
}

test('a client that gets no reply records info at its timeout and continues under a new process id', () => {
  const world = new ClientWorld();
  const first = world.runUntilSent(1);
  const invokedAt = world.sent[0]!.atUs;
  const process = world.client.process;
  world.runUntilHistory(2);
  const [invoke, info] = world.workload.history;
  assert.equal(invoke!.type, 'invoke');
  assert.deepEqual(info, { process, type: 'info', op: first.op, key: first.key, value: invoke!.value, time: invokedAt + timeoutUs });
  assert.notEqual(world.client.process, process, 'a new process id after info');
  assert.equal(world.client.outstanding, null);

  world.runUntilSent(2);
  const next = world.workload.history[2]!;
  assert.equal(next.type, 'invoke');
  assert.equal(next.process, world.client.process);
  assert.ok(world.workload.history.slice(2).every((e) => e.process !== process), 'the old process never invokes again');
});

test('a late reply to an abandoned request is ignored', () => {
  const world = new ClientWorld();
  const abandoned = world.runUntilSent(1);
  world.runUntilSent(2); // timed out (info), thought, sent the next one
  const current = world.client.outstanding;
  const historyBefore = world.workload.history.slice();
  world.client.onReply({ id: abandoned.id, outcome: 'ok', value: 'late' });
  world.client.onReply({ id: abandoned.id, outcome: 'fail', reason: 'late', leader: nodeIds[2]! });
  assert.deepEqual(world.workload.history, historyBefore);
  assert.equal(world.client.okCount, 0);
  assert.equal(world.client.outstanding, current, 'the current operation is still outstanding');
});

test('a fail with a leader hint moves the client to the hinted node', () => {
  const world = new ClientWorld();
  for (const hinted of [2, 0, 1, 2]) {
    const request = world.runUntilSent(world.sent.length + 1);
    world.client.onReply({ id: request.id, outcome: 'fail', reason: 'not the leader', leader: nodeIds[hinted]! });
    assert.equal(world.client.target, hinted);
    world.runUntilSent(world.sent.length + 1);
    assert.equal(world.sent.at(-1)!.node, hinted, 'the next request goes to the hinted leader');
    // Answer it so the loop's next request is a fresh invoke, not a timeout.
    const next = world.sent.at(-1)!.request;
    world.client.onReply({ id: next.id, outcome: 'ok', value: null });
  }
});

test('history values follow the shared history format (cas [expected, new], get invoke null)', () => {
  const world = new ClientWorld({ clients: 3 }, 'format');
  const stored = new Map<string, string>();
  const replyFor = (request: ClientRequest, roll: number): ClientReply => {
    if (roll % 5 === 4) return { id: request.id, outcome: 'fail', reason: 'refused', leader: null };
    switch (request.op) {
      case 'get':
        return { id: request.id, outcome: 'ok', value: stored.get(request.key) ?? null };
      case 'put':
        stored.set(request.key, request.value!);
        return { id: request.id, outcome: 'ok', value: null };
      case 'delete':
        stored.delete(request.key);
        return { id: request.id, outcome: 'ok', value: null };
      case 'cas':
        if ((stored.get(request.key) ?? null) !== request.expected) return { id: request.id, outcome: 'fail', reason: 'cas mismatch', leader: null };
        stored.set(request.key, request.value!);
        return { id: request.id, outcome: 'ok', value: null };
    }
  };
  // Answer most requests at once (in order), let every seventh one time out.
  for (let answered = 0; world.sent.length < 400; ) {
    const wake = world.queue.pop()!;
    world.workload.clients[wake.client]!.wake(wake.seq);
    while (answered < world.sent.length) {
      const { request } = world.sent[answered]!;
      if (answered % 7 !== 6) world.workload.clients[request.client]!.onReply(replyFor(request, answered));
      answered++;
    }
  }

  const history = world.workload.history;
  const invokes = new Map<number, ClientEvent>(); // process -> its outstanding invoke
  const seen = new Set<string>();
  let lastTime = 0;
  for (const e of history) {
    assert.ok(e.time >= lastTime, 'time never decreases');
    lastTime = e.time;
    seen.add(`${e.op}/${e.type}`);
    if (e.type === 'invoke') {
      assert.ok(!invokes.has(e.process), 'one operation at a time per process');
      invokes.set(e.process, e);
    } else {
      const invoke = invokes.get(e.process);
      assert.ok(invoke, `a ${e.type} without an invoke`);
      invokes.delete(e.process);
      assert.equal(e.op, invoke.op);
      assert.equal(e.key, invoke.key);
      if (e.op !== 'get') assert.deepEqual(e.value, invoke.value, 'completions of writes repeat the invoke value');
    }
    switch (e.op) {
      case 'put':
        assert.equal(typeof e.value, 'string');
        break;
      case 'delete':
        assert.equal(e.value, null);
        break;
      case 'get':
        if (e.type === 'ok') assert.ok(e.value === null || typeof e.value === 'string');
        else assert.equal(e.value, null, `get ${e.type} carries null`);
        break;
      case 'cas':
        assert.ok(Array.isArray(e.value) && e.value.length === 2, 'cas value is [expected, new]');
        assert.ok(e.value[0] === null || typeof e.value[0] === 'string');
        assert.equal(typeof e.value[1], 'string');
        break;
    }
  }
  for (const op of ['put', 'get', 'delete', 'cas']) for (const type of ['invoke', 'ok']) assert.ok(seen.has(`${op}/${type}`), `saw ${op} ${type}`);
  for (const kind of ['get/fail', 'cas/fail', 'put/info']) assert.ok(seen.has(kind), `saw ${kind}`);
  assert.ok(history.some((e) => e.op === 'get' && e.type === 'ok' && typeof e.value === 'string'), 'a get read a written value');
});
