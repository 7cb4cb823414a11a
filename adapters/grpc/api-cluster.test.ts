// The client API on three real managers (core Manager on RaftNodes, messages on an in-process bus
// that can isolate a manager, each serving the API on a loopback port): followers relay writes to
// the leader, and say UNAVAILABLE, with the leader's address when they know it, when they cannot;
// the client moves on to another manager only when a call certainly did not take effect; a write
// caught by a lost leadership is reported with its outcome unknown.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { CallSender } from './api-calls.ts';
import { callUnary } from './api-channel.ts';
import { ApiError } from './api-errors.ts';
import { encodeJson, METADATA_FORWARDED_BY, METADATA_OUTCOME, METADATA_SERVED_BY, metadataValue } from './api-service.ts';
import { TestCluster, type TestManager } from './api-testing.ts';

async function failure(call: () => Promise<unknown>): Promise<ApiError> {
  const error = await call().then((answer) => assert.fail(`expected a failure, got ${JSON.stringify(answer).slice(0, 200)}`), (e: unknown) => e);
  assert.ok(error instanceof ApiError, `expected an ApiError, got ${String(error)}`);
  return error;
}

/** A port with nothing listening on it. */
const deadAddress = '127.0.0.1:1';

describe('three managers', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.start({ size: 3 });
  });
  after(() => cluster.close());

  async function settled(): Promise<{ leader: TestManager; follower: TestManager }> {
    await cluster.waitFor('one leader known to every manager', () => {
      const leader = cluster.leader();
      return leader !== undefined && cluster.members.every((m) => m.node.status().leader === leader.id);
    });
    const leader = cluster.leader()!;
    return { leader, follower: cluster.members.find((m) => m !== leader)! };
  }

  test('a write sent to a follower is relayed to the leader and succeeds; reads are served where they are sent unless leaderOnly', async () => {
    const { leader, follower } = await settled();
    const client = cluster.client([follower.apiAddress]);
    const events = await client.events({ types: ['service-create'] });
    assert.equal(events.servedBy, follower.id, 'a follower serves events too');
    const created = await client.serviceCreate({ spec: { name: 'relayed', image: 'busybox' } });
    assert.equal(created.servedBy, leader.id, 'the leader applied it and answered');
    assert.equal(created.service?.spec.name, 'relayed');
    assert.equal(follower.api.stats().forwarded, 1);

    const fromLeader = await client.serviceInspect({ id: 'relayed', leaderOnly: true });
    assert.equal(fromLeader.servedBy, leader.id);
    await cluster.waitFor('the follower applying the create', () => follower.state().serviceByName('relayed') !== null);
    const local = await client.serviceInspect({ id: 'relayed' });
    assert.equal(local.servedBy, follower.id);
    assert.ok(local.appliedIndex >= created.appliedIndex - 1, 'the follower says up to which index its answer is');
    const seen = await (async () => {
      for await (const event of events) return event;
    })();
    events.close();
    assert.deepEqual([seen?.type, seen?.ids], ['service-create', [created.id]]);

    const v = local.service.version;
    const stale = await failure(() => client.serviceUpdate({ id: 'relayed', version: v + 7, spec: { image: 'busybox:2' } }));
    assert.equal(stale.codeName, 'FAILED_PRECONDITION', 'the leader\'s answer is relayed as it is');
    assert.equal(stale.servedBy, leader.id);
    assert.match(stale.message, new RegExp(`version ${v + 7} is not a version of service ${created.id}`));
    await client.serviceRemove({ id: 'relayed' });
  });

  test('a relayed call is never relayed again: a follower reached by one says UNAVAILABLE', async () => {
    const { leader, follower } = await settled();
    const raw = new grpc.Client(follower.apiAddress, grpc.credentials.createInsecure());
    try {
      const metadata = new grpc.Metadata();
      metadata.set(METADATA_FORWARDED_BY, 'm9');
      const result = await callUnary(raw, 'VolumeCreate', encodeJson({ name: 'loop' }), metadata, Date.now() + 5000);
      assert.ok(!result.ok);
      assert.equal(result.error.code, grpc.status.UNAVAILABLE);
      assert.equal(result.error.details, `manager ${follower.id} received VolumeCreate relayed by manager m9 but does not lead (it believes ${leader.id} leads); leadership is changing: retry shortly`);
      assert.equal(metadataValue(result.error.metadata, METADATA_OUTCOME), 'not-applied');
      assert.equal(metadataValue(result.error.metadata, METADATA_SERVED_BY), follower.id);
      // The same call on a Calls stream marked as relayed (how managers relay): refused the same way.
      const sender = new CallSender(metadata);
      const streamed = await sender.send(follower.apiAddress, raw, 'VolumeCreate', encodeJson({ name: 'loop' }), 5000);
      sender.close();
      assert.ok(!streamed.ok);
      assert.equal(streamed.status.code, grpc.status.UNAVAILABLE);
      assert.equal(streamed.status.details, result.error.details);
    } finally {
      raw.close();
    }
    assert.equal(leader.state().volumeByName('loop'), null);
  });

  test('a follower that cannot reach the leader says UNAVAILABLE with the leader\'s address, and the client moves on', async () => {
    const { leader, follower } = await settled();
    cluster.apiAddresses.set(leader.id, deadAddress);
    try {
      const error = await failure(() => cluster.client([follower.apiAddress]).volumeCreate({ name: 'unreachable' }));
      assert.equal(error.codeName, 'UNAVAILABLE');
      assert.match(error.message, new RegExp(`^manager ${follower.id} does not lead and could not reach the leader ${leader.id} at ${deadAddress} \\(the connection attempt failed\\); retry shortly$`));
      assert.equal(error.outcome, 'not-applied');
      assert.deepEqual(error.leader, { id: leader.id, apiAddress: deadAddress });
      assert.equal(error.servedBy, follower.id);
      // The client tried the follower, which could not help; the next address is the leader's.
      const client = cluster.client([deadAddress, follower.apiAddress, leader.apiAddress]);
      const created = await client.volumeCreate({ name: 'unreachable' });
      assert.equal(created.servedBy, leader.id);
      assert.equal(created.volume?.name, 'unreachable');
      const again = await client.volumeList({ leaderOnly: true });
      assert.equal(again.servedBy, leader.id, 'the client sticks to the manager that answered');
      await client.volumeRemove({ id: 'unreachable' });
    } finally {
      cluster.apiAddresses.set(leader.id, leader.apiAddress);
    }
  });

  test('a manager that knows no leader says UNAVAILABLE, still serves reads, and the client moves on', async () => {
    const { leader, follower } = await settled();
    cluster.isolated.add(follower.id);
    try {
      await cluster.waitFor('the isolated follower forgetting the leader', () => follower.node.status().leader === null);
      const alone = cluster.client([follower.apiAddress]);
      const error = await failure(() => alone.secretCreate({ name: 'lonely', value: 'x' }));
      assert.equal(error.codeName, 'UNAVAILABLE');
      assert.equal(error.message, `manager ${follower.id} does not lead and knows no leader (an election may be in progress); retry shortly`);
      assert.equal(error.outcome, 'not-applied');
      const stale = await alone.clusterInfo();
      assert.equal(stale.servedBy, follower.id);
      assert.equal(stale.leader, null);
      const both = cluster.client([follower.apiAddress, leader.apiAddress]);
      const created = await both.secretCreate({ name: 'lonely', value: 'x' });
      assert.equal(created.servedBy, leader.id);
      await both.secretRemove({ id: 'lonely' });
    } finally {
      cluster.isolated.delete(follower.id);
    }
  });

  test('a write caught by a lost leadership is UNAVAILABLE with its outcome unknown, and the client does not retry it', async () => {
    const { leader, follower } = await settled();
    const client = cluster.client([leader.apiAddress, follower.apiAddress]);
    cluster.isolated.add(leader.id);
    try {
      const error = await failure(() => client.serviceCreate({ spec: { name: 'in-doubt', image: 'busybox' } }));
      assert.equal(error.codeName, 'UNAVAILABLE');
      assert.equal(error.outcome, 'unknown');
      assert.equal(error.servedBy, leader.id, 'the old leader answered: the client did not move on to another manager');
      assert.match(error.message, new RegExp(`^outcome unknown; the request may have been applied; check before retrying \\(manager ${leader.id} lost its leadership before the request committed: leadership lost: `));
    } finally {
      cluster.isolated.delete(leader.id);
    }
    await settled();
    const list = await cluster.client([follower.apiAddress]).serviceList({ leaderOnly: true });
    assert.ok(list.services.every((s) => s.spec.name !== 'in-doubt'), 'here the entry was lost with the old leader\'s term');
  });
});
