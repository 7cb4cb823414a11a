// The simulated server's Ready loop, driven by the hand-built test world of ./testing.ts (ticks,
// deliveries with an optional drop filter, disk syncs), with every sent message, client reply and
// observer call recorded with its virtual time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Entry } from '../core/raft/index.ts';
import { SimHost, type HostConfig } from './host.ts';
import type { ClientReply, ClientRequest } from './protocol.ts';
import { baseShellConfig, quietDisk, ShellTestWorld, tickUs } from './testing.ts';

const baseConfig: HostConfig = { ...baseShellConfig, readBeforeApply: false };

interface Replied {
  readonly atUs: number;
  readonly node: number;
  readonly client: number;
  readonly reply: ClientReply;
  readonly appliedTo: number;
  readonly storageLastIndex: number;
  readonly diskUnsynced: number;
}

class World extends ShellTestWorld<SimHost> {
  readonly replies: Replied[] = [];
  private nextRequestId = 1;

  constructor(size: number, config: Partial<HostConfig> = {}, seed = 'host') {
    super();
    this.addServers(size, 'n', seed, (id, disk, rng, env, node) => new SimHost(id, disk, rng, { ...baseConfig, ...config }, { ...env, reply: (client, reply) => this.recordReply(node, client, reply) }));
  }

  private recordReply(node: number, client: number, reply: ClientReply): void {
    const host = this.hosts[node]!;
    this.replies.push({
      atUs: this.queue.nowUs,
      node,
      client,
      reply,
      appliedTo: host.appliedTo(),
      storageLastIndex: host.storage.lastIndex(),
      diskUnsynced: host.disk.size - host.disk.durableCount,
    });
  }

  request(node: number, op: Omit<ClientRequest, 'id' | 'client' | 'deadlineUs'>): ClientRequest {
    const request: ClientRequest = { id: this.nextRequestId++, client: 0, ...op, deadlineUs: this.queue.nowUs + 1_500_000 };
    this.hosts[node]!.request(request);
    return request;
  }

  put(node: number, key: string, value: string): ClientRequest {
    return this.request(node, { op: 'put', key, value, expected: null });
  }

  replyTo(request: ClientRequest): Replied | undefined {
    return this.replies.find((r) => r.reply.id === request.id);
  }

  leader(): number {
    return this.hosts.findIndex((h) => h.up && h.node.role() === 'leader');
  }

  /** Tick until one node leads and has applied an entry of its term (it may serve reads and writes). */
  elect(): SimHost {
    this.startTicks();
    this.runUntilTrue(() => {
      const at = this.leader();
      if (at < 0) return false;
      const leader = this.hosts[at]!;
      return this.hosts.every((h) => h.appliedTo() === leader.node.commitIndex()) && leader.appliedTo() > 0;
    }, 10_000_000, 'a leader with its first entry applied everywhere');
    return this.hosts[this.leader()]!;
  }
}

function loggedData(host: SimHost): string[] {
  const { storage } = host;
  if (storage.lastIndex() < storage.firstIndex()) return [];
  return storage.entries(storage.firstIndex(), storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER).map((e) => e.data);
}

test('a one-node host bootstraps, elects itself after ticks, and answers a put only after the disk sync completes', () => {
  const world = new World(1);
  const host = world.hosts[0]!;
  assert.equal(host.up, true);
  assert.equal(host.node.role(), 'follower');
  world.startTicks();
  world.runFor(tickUs * 9);
  assert.equal(host.node.role(), 'follower', 'no election before electionTicks');
  world.runUntilTrue(() => host.node.role() === 'leader' && host.appliedTo() > 0, 5_000_000, 'self-election');
  assert.ok(world.observer.calls.some((c) => c.kind === 'soft' && (c.detail as { role: string }).role === 'leader'));
  world.runFor(tickUs); // settle: nothing left in flight

  const syncsBefore = world.syncsScheduled.length;
  const put = world.put(0, 'x', '1');
  assert.equal(world.syncsScheduled.length, syncsBefore + 1, 'the put started a sync');
  const firstSync = world.syncsScheduled[syncsBefore]!.token;
  assert.equal(host.disk.durableCount, host.disk.size - 1, 'the entry is written but volatile');
  assert.equal(world.replies.length, 0);
  world.runUntil(firstSync.doneAtUs - 1);
  assert.equal(world.replies.length, 0, 'no reply before the sync event time');
  assert.equal(world.sent.length, 0, 'no message before the sync event time');

  world.runUntilTrue(() => world.replyTo(put) !== undefined, 1_000_000, 'the put reply');
  const replied = world.replyTo(put)!;
  assert.deepEqual(replied.reply, { id: put.id, outcome: 'ok', value: null });
  assert.ok(replied.atUs >= firstSync.doneAtUs);
  assert.ok(world.syncTimes[0]!.includes(replied.atUs), 'the reply left at a sync completion');
  assert.equal(replied.diskUnsynced, 0, 'everything the reply depends on is durable');
  assert.ok(replied.storageLastIndex >= replied.appliedTo);
  assert.equal(host.kv.get('x'), '1');
});

test('a candidate sends its vote requests only after its new term and vote are synced', () => {
  const world = new World(3);
  const host = world.hosts[0]!;
  host.operate((n) => n.campaign());
  assert.equal(world.syncsScheduled.length, 1);
  const sync = world.syncsScheduled[0]!.token;
  assert.equal(world.sent.length, 0, 'nothing leaves while the vote is volatile');
  world.runUntil(sync.doneAtUs - 1);
  assert.equal(world.sent.length, 0);
  world.runUntil(sync.doneAtUs);
  const votes = world.observer.sends.filter((s) => s.message.from === host.id && s.message.type === 'vote');
  assert.equal(votes.length, 2);
  for (const v of votes) {
    assert.equal(v.atUs, sync.doneAtUs);
    assert.equal(v.durable.hardState.term, v.message.term);
    assert.equal(v.durable.hardState.vote, host.id);
  }
});

test('a disk-full window holds the Ready: nothing is sent until it ends and the write lands', () => {
  const world = new World(3);
  const host = world.hosts[0]!;
  const fullUs = 50_000;
  host.disk.setConfig({ ...quietDisk, fullRate: 1, fullDurationUs: fullUs });
  const sizeBefore = host.disk.size;
  host.operate((n) => n.campaign());
  host.disk.setConfig(quietDisk); // the window is open; no new ones
  assert.equal(host.disk.fired.full, 1);
  assert.equal(host.disk.size, sizeBefore, 'nothing was written');
  world.runUntil(fullUs - 1);
  assert.equal(world.sent.length, 0, 'nothing sent during the window');
  assert.equal(host.disk.size, sizeBefore);
  assert.ok(host.disk.fired.full > 1, 'the write was retried and refused again inside the window');

  world.runUntilTrue(() => world.sent.length > 0, 1_000_000, 'the held votes');
  assert.ok(world.sent[0]!.atUs > fullUs);
  assert.equal(host.disk.size, sizeBefore + 1, 'the held Ready was written after the window');
  assert.equal(host.disk.durableCount, host.disk.size);
  assert.ok(world.sent.every((s) => s.message.type === 'vote' && s.message.from === host.id));
  world.runUntilTrue(() => host.node.role() === 'leader', 1_000_000, 'the election completes');
});

test('a crash before the sync completes loses the write and it is never acknowledged', () => {
  const world = new World(1);
  const host = world.hosts[0]!;
  world.elect();
  world.runFor(tickUs);
  const put = world.put(0, 'lost', 'v');
  const pendingSync = world.syncsScheduled.at(-1)!.token;
  assert.ok(loggedData(host).every((d) => !d.includes('lost')), 'storage holds only synced entries');
  host.crash();
  assert.equal(host.disk.fired.lostWrites, 1);
  world.restart(0);
  assert.ok(loggedData(host).every((d) => !d.includes('lost')), 'after start() the write is gone');
  assert.equal(host.kv.get('lost'), null);

  world.runUntil(pendingSync.doneAtUs); // the stale sync of the dead process arrives
  world.runUntilTrue(() => host.node.role() === 'leader' && host.appliedTo() === host.node.commitIndex(), 5_000_000, 're-election');
  world.runFor(1_000_000);
  assert.equal(world.replyTo(put), undefined, 'no reply is ever sent for the lost write');
  assert.equal(host.kv.get('lost'), null);
  assert.ok(!world.observer.calls.some((c) => c.kind === 'apply' && (c.detail as Entry).data.includes('lost')));
});

test('a get is served through ReadIndex only once the reading node has applied the read index', () => {
  const world = new World(3);
  const leader = world.elect();
  const followerAt = world.hosts.findIndex((h) => h !== leader);
  const follower = world.hosts[followerAt]!;
  // The follower hears only the answers to its ReadIndex requests: it misses the put entirely.
  world.drop = (m) => m.to === follower.id && m.type !== 'read-index-resp';
  const put = world.put(world.hosts.indexOf(leader), 'k', 'new');
  world.runUntilTrue(() => world.replyTo(put) !== undefined, 1_000_000, 'the put commits without the follower');
  const acked = world.observer.calls.find((c) => c.kind === 'acked')!.detail as { index: number };
  const putIndex = acked.index;
  assert.ok(follower.appliedTo() < putIndex);

  const get = world.request(followerAt, { op: 'get', key: 'k', value: null, expected: null });
  world.runFor(50_000);
  assert.ok(world.sent.some((s) => s.message.type === 'read-index-resp' && s.message.to === follower.id && !s.message.reject && s.message.index >= putIndex), 'the leader confirmed the read index');
  assert.equal(world.replyTo(get), undefined, 'not served while the read index is unapplied');

  world.drop = () => false;
  world.runUntilTrue(() => world.replyTo(get) !== undefined, 2_000_000, 'the read is served');
  const replied = world.replyTo(get)!;
  assert.deepEqual(replied.reply, { id: get.id, outcome: 'ok', value: 'new' });
  assert.ok(replied.appliedTo >= putIndex);
});

test('after enough entries the host snapshots and compacts, and a restart recovers the same state from snapshot and log', () => {
  const snapshotEveryEntries = 20;
  const world = new World(1, { snapshotEveryEntries, keepEntriesAfterSnapshot: 5 });
  const host = world.hosts[0]!;
  world.elect();
  const puts = 45;
  let maxSize = 0;
  for (let i = 0; i < puts; i++) {
    const put = world.put(0, `k${i}`, `v${i}`);
    world.runUntilTrue(() => {
      maxSize = Math.max(maxSize, host.disk.size);
      return world.replyTo(put) !== undefined;
    }, 1_000_000, `put ${i}`);
  }
  world.runFor(tickUs);
  const snapIndex = host.storage.snapshot().meta.index;
  assert.ok(snapIndex >= snapshotEveryEntries, `a snapshot was taken (at ${snapIndex})`);
  assert.ok(host.storage.firstIndex() > 1, 'the log was compacted');
  // One record per rewrite, then at most one per entry until the next (a commit index alone is not
  // written; a record also carries a new term or vote, counted generously here as a second record).
  const bound = 1 + 2 * snapshotEveryEntries;
  assert.ok(maxSize <= bound, `disk held ${maxSize} records, bound ${bound}`);
  assert.ok(host.disk.size <= bound);
  assert.ok(host.disk.size < 2 * puts, 'far fewer records than writes');

  const applied = host.appliedTo();
  const state = host.kv.snapshot();
  assert.equal(host.disk.durableCount, host.disk.size);
  host.crash();
  world.restart(0);
  const restoredSnap = host.storage.snapshot().meta.index;
  assert.ok(restoredSnap > 0 && restoredSnap < applied, `recovery needs both the snapshot (${restoredSnap}) and the log (to ${applied})`);
  assert.equal(host.storage.lastIndex(), applied);
  world.runUntilTrue(() => host.appliedTo() >= applied, 5_000_000, 'replay of the log tail');
  assert.equal(host.kv.snapshot(), state);
  for (let i = 0; i < puts; i++) assert.equal(host.kv.get(`k${i}`), `v${i}`);
});

test('a follower whose ReadIndex requests were lost still serves reads once their clients gave up', () => {
  const world = new World(3);
  const leader = world.elect();
  const followerAt = world.hosts.findIndex((h) => h !== leader);
  const follower = world.hosts[followerAt]!;
  world.drop = (m) => m.from === follower.id && m.type === 'read-index';
  const lost = 1024;
  for (let i = 0; i < lost; i++) world.request(followerAt, { op: 'get', key: 'k', value: null, expected: null });
  world.runFor(tickUs);
  world.drop = () => false;
  world.runFor(2_000_000); // a healthy cluster, the same leader throughout
  assert.equal(world.leader(), world.hosts.indexOf(leader));
  const get = world.request(followerAt, { op: 'get', key: 'k', value: null, expected: null });
  world.runUntilTrue(() => world.replyTo(get) !== undefined, 2_000_000, 'the read after the heal');
  assert.deepEqual(world.replyTo(get)!.reply, { id: get.id, outcome: 'ok', value: null });
});
