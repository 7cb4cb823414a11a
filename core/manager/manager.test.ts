import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, nodeId, RaftNode, type Entry } from '../raft/index.ts';
import { testRandom } from '../raft/harness.ts';
import type { StateCommand } from '../state/index.ts';
import type { SecretId } from '../state/types.ts';
import { defaultManagerConfig, Manager, validateManagerConfig, type ManagerConfig, type ProposeOutcome } from './manager.ts';

/** One manager on a single-node Raft, with the smallest Ready loop a shell can have. */
function singleManager(config: ManagerConfig = defaultManagerConfig) {
  const id = nodeId('m1');
  const storage = new MemoryStorage();
  storage.bootstrap({ voters: [id], learners: [] });
  const node = new RaftNode({ id, random: testRandom(1), applied: 0 }, storage);
  let nowUs = 0;
  let applied = 0;
  let ids = 0;
  const manager = new Manager(id, () => node, { nowUs: () => nowUs, appliedIndex: () => applied, idSource: () => () => String(++ids).padStart(12, '0') }, config);
  const pump = (deliver = true) => {
    while (node.hasReady()) {
      const rd = node.ready();
      storage.append(rd.entries);
      if (rd.hardState) storage.setHardState(rd.hardState);
      for (const e of rd.committed as readonly Entry[]) {
        if (e.type === 'conf') node.applyConfEntry(e);
        else if (e.data !== '') manager.apply(e);
        applied = e.index;
      }
      node.advance(rd);
    }
    if (deliver) manager.deliverAnswers();
  };
  const tick = (n = 1) => {
    for (let i = 0; i < n; i++) {
      nowUs += 100_000;
      manager.tick();
      node.tick();
      pump();
    }
  };
  return { manager, node, pump, tick, advance: (us: number) => (nowUs += us) };
}

const secret = (name: string): StateCommand => ({ type: 'secret-create', id: name as SecretId, name, ciphertext: 'eA==', digest: `sha256:${name}`, atUs: 0 });

test('a proposal is answered once its entry is applied, and the store holds its effect', () => {
  const m = singleManager();
  const early: ProposeOutcome[] = [];
  m.manager.proposeClient(secret('early'), (o) => early.push(o));
  assert.equal(early[0]?.ok, false);
  assert.equal(!early[0]!.ok && early[0]!.code, 'not-leader', 'not leading yet');
  m.tick(30);
  assert.equal(m.manager.isLeader(), true);
  const answers: ProposeOutcome[] = [];
  m.manager.proposeClient(secret('db-password'), (o) => answers.push(o));
  assert.equal(answers.length, 0, 'not answered before it is applied');
  m.pump();
  assert.deepEqual(answers, [{ ok: true }]);
  assert.equal(m.manager.state.secrets().map((s) => s.name).join(), 'db-password');
  // An invalid command is refused at once with the store's reason and changes nothing.
  m.manager.proposeClient(secret('db-password'), (o) => answers.push(o));
  assert.equal(answers[1]?.ok, false);
  assert.match(!answers[1]!.ok ? answers[1]!.error : '', /db-password/);
  assert.equal(m.manager.pendingProposals(), 0);
});

test('client requests beyond the admission limits are shed as overloaded with a retry hint', () => {
  const m = singleManager({ ...defaultManagerConfig, admission: { ratePerSecond: 10, burst: 2, maxInFlight: 100 } });
  m.tick(30);
  const answers: ProposeOutcome[] = [];
  for (let i = 0; i < 3; i++) m.manager.proposeClient(secret(`s${i}`), (o) => answers.push(o));
  m.pump();
  assert.deepEqual(answers.filter((a) => a.ok).length, 2);
  const shed = answers.find((a) => !a.ok);
  assert.ok(shed && !shed.ok && shed.code === 'overloaded' && (shed.retryAfterUs ?? 0) > 0);
  assert.match(!shed.ok ? shed.error : '', /manager m1 is overloaded: client requests exceed 10\/s \(burst 2\); retry after/);
  assert.deepEqual(m.manager.admissionCounts(), { admitted: 2, shed: 1 });
  assert.equal(m.manager.state.secret('s2' as SecretId), null, 'the shed request changed nothing');
});

test('answers can be delivered a few at a time, oldest first, with the count still waiting', () => {
  const m = singleManager();
  m.tick(30);
  const answered: string[] = [];
  for (const name of ['a', 'b', 'c', 'd', 'e']) m.manager.proposeClient(secret(name), (o) => answered.push(`${name}:${o.ok}`));
  m.pump(false);
  assert.deepEqual(answered, [], 'applied, not yet answered');
  assert.equal(m.manager.deliverAnswers(2), 3);
  assert.deepEqual(answered, ['a:true', 'b:true']);
  assert.equal(m.manager.deliverAnswers(2), 1);
  assert.equal(m.manager.deliverAnswers(2), 0);
  assert.deepEqual(answered, ['a:true', 'b:true', 'c:true', 'd:true', 'e:true']);
  assert.equal(m.manager.deliverAnswers(2), 0, 'nothing left is fine');
});

test('a reset forgets pending proposals without answering them', () => {
  const m = singleManager();
  m.tick(30);
  const answers: ProposeOutcome[] = [];
  m.manager.propose(secret('lost'), (o) => answers.push(o));
  assert.equal(m.manager.pendingProposals(), 1);
  m.manager.reset();
  assert.equal(m.manager.pendingProposals(), 0);
  assert.equal(m.manager.isLeader(), false);
  m.manager.deliverAnswers();
  assert.equal(answers.length, 0);
});

test('bad settings are refused with their name', () => {
  assert.throws(() => validateManagerConfig({ ...defaultManagerConfig, reconcileEveryTicks: 0 }), /reconcileEveryTicks must be a positive integer, got 0/);
  assert.throws(() => validateManagerConfig({ ...defaultManagerConfig, admission: { ratePerSecond: 1, burst: 0, maxInFlight: 1 } }), /admission burst/);
});
