// Membership changes that used to go wrong, each found by the interaction scenarios or the safety
// property tests and fixed in the core: a joining node's view of the membership, a leader removing
// itself, and a node that cannot campaign stuck at a higher term than its leader. The same stories
// are told step by step in testdata/learner.txt, remove-leader-lost-commit.txt and
// stale-term-learner.txt.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Interaction } from './interaction.ts';

function play(...commands: string[]): Interaction {
  const script = new Interaction();
  for (const command of commands) script.run(command);
  return script;
}

test('a node that joined knowing no configuration ends with the full membership and cannot elect itself alone', () => {
  const script = play('add-nodes 3', 'campaign 1', 'stabilize', 'propose 1 a', 'stabilize', 'propose-conf 1 add-learner 4', 'stabilize', 'tick 1', 'stabilize', 'propose-conf 1 add-voter 4', 'stabilize');
  assert.deepEqual(script.run('conf 4'), ['n4 voters=(n1 n2 n3 n4) learners=()']);
  script.run('isolate 4');
  script.run('tick 4 40');
  assert.notEqual(script.harness().get('n4').node.status().role, 'leader');
  assert.match(script.run('propose 4 split-brain')[0]!, /^refused not-leader/);
});

test('a leader whose own removal is pending refuses proposals, so the voter that committed it can take over', () => {
  const script = play(
    'add-nodes 3 max-msg-bytes=1', 'campaign 2', 'stabilize', 'propose-conf 2 remove 1', 'stabilize',
    // n2 removes itself; n3 acknowledges, but never hears that the removal committed.
    'propose-conf 2 remove 2', 'deliver-msgs 3',
  );
  assert.match(script.run('propose 2 x')[0]!, /^refused not-leader: this leader is being removed/);
  script.run('drop-msgs 2 3');
  script.run('deliver-msgs 2');
  script.run('drop-msgs 2 *');
  assert.equal(script.harness().get('n2').node.status().role, 'follower');
  script.run('elapse 100');
  const n3 = script.harness().get('n3').node.status();
  assert.equal(n3.role, 'leader', 'n3 must be elected: before the fix the cluster stayed leaderless');
  assert.deepEqual(n3.conf.voters, ['n3']);
});

test('a learner at a higher term than its leader answers the stale appends, and catches up', () => {
  const script = play(
    'add-nodes 3 prevote=false checkquorum=false', 'campaign 3', 'stabilize',
    'isolate 1', 'propose-conf 3 remove 1', 'stabilize', 'propose-conf 3 remove 2', 'stabilize',
    'propose-conf 3 add-learner 2', 'isolate 2', 'stabilize', 'heal',
    // The removed n1 campaigns; only n2 hears it and moves to term 2, above n3's term 1.
    'campaign 1', 'drop-msgs 1 3', 'crash 1', 'deliver-msgs 2',
  );
  assert.equal(script.harness().get('n2').node.status().term, 2);
  script.run('elapse 30');
  const n2 = script.harness().get('n2').node.status();
  const n3 = script.harness().get('n3').node.status();
  assert.equal(n3.role, 'leader');
  assert.equal(n2.commit, n3.commit, 'the learner caught up');
  assert.deepEqual(n2.conf.learners, ['n2']);
});
