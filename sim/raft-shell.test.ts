// The pipelined Ready loop of the simulated server (raft-shell.ts), driven step by step in the
// hand-built world of ./testing.ts: replies that must wait for writes still in flight, the leader's
// early appends, syncs completing out of order, a full disk with several writes pending, and
// compaction under a load that always keeps a write in flight.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '../core/raft/index.ts';
import { SimHost, type HostConfig } from './host.ts';
import type { ClientReply, ClientRequest } from './protocol.ts';
import { baseShellConfig, quietDisk, ShellTestWorld, tickUs } from './testing.ts';

class World extends ShellTestWorld<SimHost> {
  readonly replies: { readonly atUs: number; readonly reply: ClientReply }[] = [];
  private nextRequestId = 1;

  constructor(size: number, config: Partial<HostConfig> = {}) {
    super();
    this.addServers(size, 'n', 'pipeline', (id, disk, rng, env) => new SimHost(id, disk, rng, { ...baseShellConfig, readBeforeApply: false, ...config }, { ...env, reply: (_client, reply) => this.replies.push({ atUs: this.queue.nowUs, reply }) }));
  }

  put(node: number, key: string, value: string): ClientRequest {
    const request: ClientRequest = { id: this.nextRequestId++, client: 0, op: 'put', key, value, expected: null, deadlineUs: this.queue.nowUs + 10_000_000 };
    this.hosts[node]!.request(request);
    return request;
  }

  replyTo(request: ClientRequest): { readonly atUs: number; readonly reply: ClientReply } | undefined {
    return this.replies.find((r) => r.reply.id === request.id);
  }

  /** Tick until one node leads with its first entry applied everywhere; returns its number. */
  elect(): number {
    this.startTicks();
    const leader = () => this.hosts.findIndex((h) => h.up && h.node.role() === 'leader');
    this.runUntilTrue(() => leader() >= 0 && this.hosts.every((h) => h.appliedTo() === this.hosts[leader()]!.node.commitIndex() && h.appliedTo() > 0), 10_000_000, 'a leader');
    this.runFor(tickUs);
    return leader();
  }
}

/** Appends acknowledged by `from` as the observer saw them leave, with the durable state at that moment. */
function acks(world: World, from: string) {
  return world.observer.sends.filter((s) => s.message.from === from && s.message.type === 'app-resp' && !s.message.reject).map((s) => ({ ...s, index: (s.message as Extract<Message, { type: 'app-resp' }>).index }));
}

/** A follower receives an append twice: the second time from a Ready with nothing to write. */
function duplicateAppend(pipelineEarlyReply: boolean) {
  const world = new World(3, { pipelineEarlyReply });
  const leaderAt = world.elect();
  const leader = world.hosts[leaderAt]!;
  const follower = world.hosts.find((h) => h !== leader)!;
  const slowSyncUs = 50_000;
  follower.disk.setConfig({ ...quietDisk, syncLatencyMinUs: slowSyncUs });
  world.put(leaderAt, 'k', 'v');
  const index = leader.node.status().lastIndex;
  world.runUntilTrue(() => follower.node.status().lastIndex >= index, 1_000_000, 'the append reaches the follower');
  const append = world.sent.filter((s) => s.message.type === 'app' && s.message.to === follower.id && s.message.entries.length > 0).at(-1)!.message;
  const syncAtUs = world.syncsScheduled.filter((s) => world.hosts[s.node] === follower).at(-1)!.token.doneAtUs;
  assert.ok(follower.disk.durableCount < follower.disk.size, 'the entry is written, not yet durable');
  follower.receive(append); // a duplicate delivery
  return { world, follower, index, syncAtUs };
}

test('a follower answers an append it holds in a write still in flight only once that write is durable', () => {
  const { world, follower, index, syncAtUs } = duplicateAppend(false);
  assert.deepEqual(acks(world, follower.id).filter((a) => a.index >= index), [], 'no acknowledgement while the write is in flight');
  world.runUntil(syncAtUs);
  const sent = acks(world, follower.id).filter((a) => a.index >= index);
  // Both deliveries are answered, and so are the leader's later appends (its new commit index).
  assert.ok(sent.length >= 2, `${sent.length} acknowledgements once the write is durable`);
  for (const a of sent) {
    assert.equal(a.atUs, syncAtUs);
    assert.ok(a.durable.lastIndex >= a.index, `acknowledged ${a.index} with the disk at ${a.durable.lastIndex}`);
  }
});

test('with the planted bug pipeline-early-reply the answer to the duplicate leaves before the write is durable', () => {
  const { world, follower, index, syncAtUs } = duplicateAppend(true);
  const early = acks(world, follower.id).filter((a) => a.index >= index);
  assert.equal(early.length, 1);
  assert.ok(early[0]!.atUs < syncAtUs);
  assert.ok(early[0]!.durable.lastIndex < index, 'the acknowledged entry is not durable yet');
});

test("a leader's appends leave before its own write is durable, and its copy counts toward commit only once it is", () => {
  const world = new World(3);
  const leaderAt = world.elect();
  const leader = world.hosts[leaderAt]!;
  const [live, cut] = world.hosts.filter((h) => h !== leader);
  world.drop = (m) => m.to === cut!.id || m.from === cut!.id; // commit needs the leader's own copy
  const slowSyncUs = 50_000;
  leader.disk.setConfig({ ...quietDisk, syncLatencyMinUs: slowSyncUs });
  const sentBefore = world.sent.length;
  const put = world.put(leaderAt, 'k', 'v');
  const index = leader.node.status().lastIndex;
  const appends = world.sent.slice(sentBefore).filter((s) => s.message.type === 'app' && s.message.to === live!.id);
  assert.equal(appends.length, 1, 'the append left with the proposal');
  const leaderSyncUs = world.syncsScheduled.at(-1)!.token.doneAtUs;
  world.runUntilTrue(() => acks(world, live!.id).some((a) => a.index >= index), 10_000, "the follower's acknowledgement");
  world.runUntil(leaderSyncUs - 1);
  assert.ok(leader.node.commitIndex() < index, 'not committed while the leader alone has it volatile');
  assert.equal(world.replyTo(put), undefined);
  world.runUntilTrue(() => world.replyTo(put) !== undefined, 1_000_000, 'the put reply');
  assert.ok(world.replyTo(put)!.atUs >= leaderSyncUs);
  assert.equal(leader.node.commitIndex(), index);
});

test('a later sync that completes first makes the earlier write durable too, and the Readies are processed in order', () => {
  const world = new World(1);
  world.elect();
  const host = world.hosts[0]!;
  host.disk.setConfig({ ...quietDisk, syncLatencyMinUs: 80_000 });
  const first = world.put(0, 'a', '1');
  const firstSync = world.syncsScheduled.at(-1)!.token;
  host.disk.setConfig({ ...quietDisk, syncLatencyMinUs: 1_000 });
  const second = world.put(0, 'b', '2');
  const secondSync = world.syncsScheduled.at(-1)!.token;
  assert.ok(secondSync.upto > firstSync.upto && secondSync.doneAtUs < firstSync.doneAtUs);
  world.runUntil(secondSync.doneAtUs + 5_000);
  const [a, b] = [world.replyTo(first), world.replyTo(second)];
  assert.ok(a && b, 'both answered before the first sync event');
  assert.ok(a.atUs <= b.atUs && world.replies.indexOf(a) < world.replies.indexOf(b), 'answered in order');
  assert.equal(host.disk.durableCount, host.disk.size);
  world.runUntil(firstSync.doneAtUs); // the first sync's own completion changes nothing
  assert.equal(world.replies.length, 2);
});

test('a full disk holds the refused write and everything after it, then writes them in order', () => {
  const world = new World(1);
  world.elect();
  const host = world.hosts[0]!;
  host.disk.setConfig({ ...quietDisk, syncLatencyMinUs: 5_000 });
  const a = world.put(0, 'k', 'a');
  const fullUs = 30_000;
  host.disk.setConfig({ ...quietDisk, syncLatencyMinUs: 5_000, fullRate: 1, fullDurationUs: fullUs });
  const b = world.put(0, 'k', 'b');
  host.disk.setConfig({ ...quietDisk, syncLatencyMinUs: 5_000 });
  const c = world.put(0, 'k', 'c');
  const heldAtUs = world.queue.nowUs;
  world.runUntil(heldAtUs + fullUs - 1);
  assert.ok(host.disk.fired.full > 1, 'the refused write was retried inside the window');
  assert.equal(world.replyTo(b), undefined);
  assert.equal(world.replyTo(c), undefined);
  world.runUntilTrue(() => world.replyTo(c) !== undefined, 1_000_000, 'the held writes');
  const [ra, rb, rc] = [world.replyTo(a)!, world.replyTo(b)!, world.replyTo(c)!];
  assert.ok(ra.atUs <= rb.atUs && rb.atUs <= rc.atUs && rb.atUs >= heldAtUs + fullUs);
  assert.equal(host.kv.get('k'), 'c');
  const applied = host.appliedTo();
  host.crash();
  world.restart(0);
  world.runUntilTrue(() => host.appliedTo() >= applied, 5_000_000, 'recovery');
  assert.equal(host.kv.get('k'), 'c', 'the records were written in the order taken');
});

test('a node compacts under a load that always keeps a write in flight', () => {
  const snapshotEveryEntries = 20;
  const world = new World(3, { snapshotEveryEntries, keepEntriesAfterSnapshot: 5 });
  const leaderAt = world.elect();
  const leader = world.hosts[leaderAt]!;
  for (const h of world.hosts) h.disk.setConfig({ ...quietDisk, syncLatencyMinUs: 2_000 });
  const puts: ClientRequest[] = [];
  let busySamples = 0;
  const samples = 400;
  const snapshots = world.hosts.map(() => new Set<number>());
  let lagMax = 0;
  // A put every 500 us against 2 ms syncs: every node has writes in flight nearly all the time.
  for (let i = 0; i < samples; i++) {
    puts.push(world.put(leaderAt, `k${i % 10}`, `v${i}`));
    world.runFor(500);
    if (world.hosts.every((h) => h.disk.durableCount < h.disk.size)) busySamples++;
    world.hosts.forEach((h, at) => {
      snapshots[at]!.add(h.storage.snapshot().meta.index);
      lagMax = Math.max(lagMax, h.appliedTo() - h.storage.snapshot().meta.index);
    });
  }
  assert.ok(busySamples > samples * 0.9, `writes in flight on every node in ${busySamples} of ${samples} samples`);
  for (const taken of snapshots) assert.ok(taken.size >= 10, `${taken.size} snapshots during the load`);
  assert.ok(lagMax <= 2 * snapshotEveryEntries, `applied ran ${lagMax} entries ahead of the last snapshot`);
  world.runUntilTrue(() => puts.every((p) => world.replyTo(p) !== undefined), 2_000_000, 'every put answered');
  assert.ok(puts.every((p) => world.replyTo(p)!.reply.outcome === 'ok'));
  for (const h of world.hosts) assert.ok(h.disk.size <= 2 * snapshotEveryEntries + 1, `${h.id}: ${h.disk.size} records on disk`);
  const state = leader.kv.snapshot();
  const applied = leader.appliedTo();
  world.hosts.forEach((h) => h.crash());
  world.hosts.forEach((_, i) => world.restart(i));
  world.runUntilTrue(() => world.hosts.some((h) => h.node.role() === 'leader' && h.appliedTo() >= applied), 10_000_000, 'recovery from snapshot and log');
  const recovered = world.hosts.find((h) => h.node.role() === 'leader')!;
  assert.equal(recovered.kv.snapshot(), state);
});
