// Golden interaction scenarios for the Raft core (in the style of etcd's rafttest): a text script of
// commands drives a Harness cluster step by step, and every command prints what happened. Scripts
// live in testdata/*.txt and read like the paper's figures; the test compares each command's output
// with the expected block beside it and fails with a diff on any difference.
//
// File layout (see datadriven.ts): prose lines are blank or start with '#'; a block is one command
// line, a '----' line, then the expected output up to the next blank line. A command that prints
// nothing has the output 'ok'. To author a scenario, write commands with empty outputs and run the
// scenario test with REWRITE=1; then read the rewritten outputs as carefully as code under review.
//
// Nodes are named n1, n2, ... and may be written `1` or `n1`. Commands:
//   add-nodes N [k=v ...]      start voters n1..nN (once per script). Options: prevote, checkquorum
//                              (true|false, default true), election-ticks, heartbeat-ticks,
//                              max-msg-bytes, max-inflight, snapshot-chunk-bytes, max-learner-lag,
//                              seed, bug=NAME[,NAME] (a planted bug of bugs.ts)
//   campaign ID                ID starts an election now (a pre-vote first when prevote is on)
//   tick ID [COUNT]            tick ID COUNT times (default 1); messages queue, none are delivered
//   tick-all [COUNT]           tick every running node COUNT times; nothing is delivered
//   elapse COUNT               COUNT times: tick every running node, then stabilize quietly (state
//                              changes are printed, messages are not): time passing in a live cluster
//   propose ID DATA            ID proposes DATA (the rest of the line); prints the result
//   propose-conf ID add-learner|add-voter|remove NODE
//                              a membership change; a node being added is created empty if new
//   transfer-leader FROM TO    FROM hands leadership to TO
//   read-index ID CTX          ID asks for a linearizable read tagged CTX
//   stabilize                  deliver every message and handle every Ready until nothing moves,
//                              printing each delivered message as one line
//   deliver-msgs ID [from=F] [type=T]
//                              deliver only the queued messages to ID (optionally from F, of type T)
//   drop-msgs FROM TO [type=T] drop the queued messages from FROM to TO (either may be *), printing each
//   msgs [ID]                  show the queued messages (to ID), delivering nothing
//   isolate ID / heal          cut ID off the network (in-flight messages to or from it are lost) /
//                              reconnect every running node
//   crash ID / restart ID      stop ID (it neither ticks nor handles anything; what it had not made
//                              durable is lost) / start ID again from its durable state
//   compact ID                 ID snapshots its state machine at its applied index and compacts its log
//   status ID, conf ID, log ID (the durable log), progress ID (as the leader sees it), state ID
//
// After each command every running node's Ready is handled (persist, queue messages, apply) and
// printed as state changes: `n1 becomes leader at term 2`, `n2 applied [3/2:x]`,
// `n3 installs snapshot 20/2`, `n1 read-state ctx=r1 index=3`, `n2 read-index ctx=r2 rejected`.
// Messages print as `from->to type term=T ...` (see interaction-format.ts). An invariant failure of
// the core prints `panic: ...` and the script goes on, so a planted bug can be shown tripping one.

import { InvariantError } from '../assert.ts';
import type { RaftConfig } from './config.ts';
import { diffLines, parseScript, renderScript } from './datadriven.ts';
import { Harness, type HarnessNode } from './harness.ts';
import { bool, count, int, messageFilter, parseBugs, parseNodeId, required, ScriptError, splitArgs } from './interaction-args.ts';
import { describeEntries, describeEntry, describeMessage } from './interaction-format.ts';
import { shellApplied } from './safety-schedule.ts';
import type { ProposeResult } from './node.ts';
import type { ConfChange, Message, NodeId } from './types.ts';

export { ScriptError } from './interaction-args.ts';

export interface Mismatch {
  readonly line: number;
  readonly command: string;
  readonly expected: readonly string[];
  readonly actual: readonly string[];
  readonly diff: string;
}

export interface ScriptResult {
  readonly mismatches: readonly Mismatch[];
  /** The script with every output replaced by what actually happened (for REWRITE=1). */
  readonly rewritten: string;
}

/** Run a whole script; pure: the caller reads and writes files. */
export function runScript(text: string): ScriptResult {
  const chunks = parseScript(text);
  const interaction = new Interaction();
  const outputs: string[][] = [];
  const mismatches: Mismatch[] = [];
  for (const chunk of chunks) {
    if (chunk.kind !== 'block') continue;
    const { line, command, expected } = chunk.block;
    const actual = interaction.run(command, line);
    outputs.push(actual);
    if (actual.length !== expected.length || actual.some((l, i) => l !== expected[i])) {
      mismatches.push({ line, command, expected, actual, diff: diffLines(expected, actual) });
    }
  }
  return { mismatches, rewritten: renderScript(chunks, outputs) };
}

/** Bound on delivery rounds of one stabilize; a cluster that still moves after it is reported. */
const maxStabilizeRounds = 10_000;

export class Interaction {
  private cluster: Harness | null = null;
  private readonly cut = new Set<NodeId>();
  private readonly down = new Set<NodeId>();
  /** The role and term last printed for each node, so only changes are printed. */
  private readonly shownRole = new Map<NodeId, string>();
  private out: string[] = [];

  /** Run one command; returns its output lines ('ok' when it printed nothing). */
  run(command: string, line = 0): string[] {
    this.out = [];
    const words = command.trim().split(/\s+/);
    try {
      this.dispatch(words[0]!, words.slice(1), command.trim());
    } catch (e) {
      if (e instanceof ScriptError) throw new ScriptError(`line ${line}: ${command}: ${e.message}`);
      if (!(e instanceof InvariantError)) throw e;
      this.print(`panic: ${e.message}`);
    }
    return this.out.length > 0 ? this.out : ['ok'];
  }

  private print(line: string): void {
    this.out.push(line);
  }

  private dispatch(name: string, args: string[], command: string): void {
    switch (name) {
      case 'add-nodes': return this.addNodes(args);
      case 'campaign': return this.withReady(() => this.node(args[0]).node.campaign());
      case 'tick': return this.tick(this.node(args[0]), count(args[1]));
      case 'tick-all': return this.tickAll(count(args[0]), false);
      case 'elapse': return this.tickAll(count(args[0]), true);
      case 'propose': return this.propose(args, command);
      case 'propose-conf': return this.proposeConf(args);
      case 'transfer-leader': return this.withReady(() => this.result(this.node(args[0]).node.transferLeadership(this.node(args[1]).id), false));
      case 'read-index': return this.withReady(() => this.node(args[0]).node.readIndex(required(args[1], 'a context')));
      case 'stabilize': return this.stabilize(true);
      case 'deliver-msgs': return this.deliverTo(args);
      case 'drop-msgs': return this.dropMsgs(args);
      case 'msgs': return this.showMsgs(args);
      case 'isolate': return this.isolate(this.node(args[0]).id);
      case 'heal': return this.heal();
      case 'crash': return this.crash(this.node(args[0]).id);
      case 'restart': return this.restart(this.node(args[0]));
      case 'compact': return this.compact(this.node(args[0]));
      case 'status': return this.status(this.node(args[0]));
      case 'conf': return this.conf(this.node(args[0]));
      case 'log': return this.log(this.node(args[0]));
      case 'progress': return this.progress(this.node(args[0]));
      case 'state': return this.state(this.node(args[0]));
      default:
        throw new ScriptError(`unknown command '${name}'`);
    }
  }

  // ---- setup ----

  private addNodes(args: string[]): void {
    if (this.cluster) throw new ScriptError('add-nodes may appear only once per script');
    const { positional, options } = splitArgs(args);
    const n = Number(positional[0]);
    if (!Number.isInteger(n) || n < 1 || n > 9) throw new ScriptError(`expected a node count 1..9, got '${positional[0] ?? ''}'`);
    const raft: { -readonly [K in keyof RaftConfig]?: RaftConfig[K] } = {};
    let seed = 1;
    for (const [key, value] of options) {
      switch (key) {
        case 'prevote': raft.preVote = bool(key, value); break;
        case 'checkquorum': raft.checkQuorum = bool(key, value); break;
        case 'election-ticks': raft.electionTicks = int(key, value); break;
        case 'heartbeat-ticks': raft.heartbeatTicks = int(key, value); break;
        case 'max-msg-bytes': raft.maxMsgBytes = int(key, value); break;
        case 'max-inflight': raft.maxInflightMsgs = int(key, value); break;
        case 'snapshot-chunk-bytes': raft.snapshotChunkBytes = int(key, value); break;
        case 'max-learner-lag': raft.maxLearnerLagEntries = int(key, value); break;
        case 'seed': seed = int(key, value); break;
        case 'bug': raft.bugs = parseBugs(value); break;
        default: throw new ScriptError(`unknown option '${key}'`);
      }
    }
    const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    try {
      this.cluster = new Harness(ids, raft, seed);
    } catch (e) {
      if (e instanceof RangeError) throw new ScriptError(e.message);
      throw e;
    }
    for (const id of this.c().ids()) this.shownRole.set(id, roleKey(this.c().get(id)));
  }

  /** The cluster under the script, for checkers that watch it between commands. */
  harness(): Harness {
    return this.c();
  }

  private c(): Harness {
    if (!this.cluster) throw new ScriptError('no cluster yet: start with add-nodes');
    return this.cluster;
  }

  private node(arg: string | undefined): HarnessNode {
    const id = parseNodeId(arg);
    const h = this.c().nodes.get(id);
    if (!h) throw new ScriptError(`no node ${id}`);
    return h;
  }

  private running(): NodeId[] {
    return this.c().ids().filter((id) => !this.down.has(id));
  }

  // ---- readies and delivery ----

  private withReady(action: () => void): void {
    action();
    this.processAll();
  }

  /** Handle every running node's Ready, printing what changed. Returns true if any was handled. */
  private processAll(): boolean {
    let moved = false;
    for (const id of this.running()) {
      const h = this.c().get(id);
      for (;;) {
        const appliedBefore = h.node.status().applied;
        const snapBefore = h.storage.snapshot().meta.index;
        const readsBefore = h.readStates.length;
        const rejectedBefore = h.readsRejected.length;
        if (!this.c().processReady(id)) break;
        moved = true;
        this.showRole(h);
        const snap = h.storage.snapshot().meta;
        if (snap.index > snapBefore) this.print(`${id} installs snapshot ${snap.index}/${snap.term}`);
        const fresh = h.applied.filter((e) => e.index > Math.max(appliedBefore, snap.index));
        if (fresh.length > 0) this.print(`${id} applied ${describeEntries(fresh)}`);
        for (const s of h.readStates.slice(readsBefore)) this.print(`${id} read-state ctx=${s.context} index=${s.index}`);
        for (const ctx of h.readsRejected.slice(rejectedBefore)) this.print(`${id} read-index ctx=${ctx} rejected`);
      }
    }
    return moved;
  }

  private showRole(h: HarnessNode): void {
    const key = roleKey(h);
    if (this.shownRole.get(h.id) === key) return;
    this.shownRole.set(h.id, key);
    this.print(`${h.id} becomes ${key}`);
  }

  /** Deliver one message unless the network or a crash loses it. */
  private deliver(m: Message, show: boolean): void {
    if (this.cut.has(m.from) || this.cut.has(m.to) || this.down.has(m.to)) return;
    const to = this.c().nodes.get(m.to);
    if (!to) return;
    if (show) this.print(describeMessage(m));
    to.node.step(m);
  }

  private stabilize(show: boolean): void {
    const c = this.c();
    for (let round = 0; round < maxStabilizeRounds; round++) {
      const moved = this.processAll();
      const batch = c.queue;
      c.queue = [];
      for (const m of batch) this.deliver(m, show);
      if (!moved && batch.length === 0) return;
    }
    this.print(`stabilize: still moving after ${maxStabilizeRounds} rounds`);
  }

  private tick(h: HarnessNode, times: number): void {
    for (let i = 0; i < times; i++) this.withReady(() => h.node.tick());
  }

  private tickAll(times: number, stabilize: boolean): void {
    for (let i = 0; i < times; i++) {
      for (const id of this.running()) this.c().get(id).node.tick();
      if (stabilize) this.stabilize(false);
      else this.processAll();
    }
  }

  private take(match: (m: Message) => boolean): Message[] {
    const c = this.c();
    const taken = c.queue.filter(match);
    c.queue = c.queue.filter((m) => !match(m));
    return taken;
  }

  private deliverTo(args: string[]): void {
    const { positional, options } = splitArgs(args);
    const to = this.node(positional[0]).id;
    const filter = messageFilter(options, ['from', 'type']);
    const from = options.has('from') ? parseNodeId(options.get('from')) : null;
    const taken = this.take((m) => m.to === to && (from === null || m.from === from) && filter(m));
    if (taken.length === 0) this.print('no messages');
    for (const m of taken) this.deliver(m, true);
    this.processAll();
  }

  private dropMsgs(args: string[]): void {
    const { positional, options } = splitArgs(args);
    const from = positional[0] === '*' ? null : this.node(positional[0]).id;
    const to = positional[1] === '*' ? null : this.node(positional[1]).id;
    const filter = messageFilter(options, ['type']);
    const taken = this.take((m) => (from === null || m.from === from) && (to === null || m.to === to) && filter(m));
    if (taken.length === 0) this.print('no messages');
    for (const m of taken) this.print(`dropped ${describeMessage(m)}`);
  }

  private showMsgs(args: string[]): void {
    const to = args[0] === undefined ? null : this.node(args[0]).id;
    const shown = this.c().queue.filter((m) => to === null || m.to === to);
    if (shown.length === 0) this.print('no messages');
    for (const m of shown) this.print(describeMessage(m));
  }

  // ---- client requests ----

  private propose(args: string[], command: string): void {
    const h = this.node(args[0]);
    const data = command.replace(/^\S+\s+\S+\s*/, '');
    if (data === '') throw new ScriptError('propose needs DATA after the node');
    this.withReady(() => this.result(h.node.propose(data), true));
  }

  private proposeConf(args: string[]): void {
    const h = this.node(args[0]);
    const type = args[1];
    if (type !== 'add-learner' && type !== 'add-voter' && type !== 'remove') {
      throw new ScriptError(`expected add-learner, add-voter or remove, got '${type ?? ''}'`);
    }
    const target = parseNodeId(args[2]);
    if (!this.c().nodes.has(target)) {
      if (type === 'remove') throw new ScriptError(`no node ${target}`);
      this.c().add(target, []);
      this.shownRole.set(target, roleKey(this.c().get(target)));
    }
    const change: ConfChange = { type, node: target };
    this.withReady(() => this.result(h.node.proposeConfChange(change), true));
  }

  private result(r: ProposeResult, showOk: boolean): void {
    if (!r.ok) this.print(`refused ${r.code}: ${r.message}`);
    else if (showOk) this.print(`ok index=${r.index} term=${r.term}`);
  }

  // ---- faults ----

  private syncIsolation(): void {
    const c = this.c();
    c.heal();
    for (const id of [...this.cut, ...this.down].sort()) c.isolate(id);
  }

  private isolate(id: NodeId): void {
    this.cut.add(id);
    this.syncIsolation();
  }

  private heal(): void {
    this.cut.clear();
    this.syncIsolation();
  }

  private crash(id: NodeId): void {
    this.down.add(id);
    this.syncIsolation();
  }

  private restart(h: HarnessNode): void {
    this.c().restart(h.id);
    this.down.delete(h.id);
    this.syncIsolation();
    this.shownRole.set(h.id, roleKey(h));
    const s = h.node.status();
    this.print(`${h.id} restarts at term ${s.term} with commit=${s.commit} applied=${s.applied} last=${s.lastIndex}`);
    this.processAll();
  }

  private compact(h: HarnessNode): void {
    const applied = shellApplied(h);
    const before = h.storage.snapshot().meta.index;
    if (applied <= before) {
      this.print(`${h.id} has nothing to compact (applied ${applied}, snapshot at ${before})`);
      return;
    }
    const snap = h.storage.createSnapshot(applied, h.node.status().conf, h.state);
    h.storage.compact(applied);
    this.print(`${h.id} snapshot ${snap.meta.index}/${snap.meta.term}; log starts at ${h.storage.firstIndex()}`);
  }

  // ---- inspection ----

  private status(h: HarnessNode): void {
    const s = h.node.status();
    const flags = `${this.down.has(h.id) ? ' (crashed)' : ''}${this.cut.has(h.id) ? ' (isolated)' : ''}`;
    this.print(`${h.id} term=${s.term} role=${s.role} leader=${s.leader ?? 'none'} commit=${s.commit} applied=${s.applied} last=${s.lastIndex}${flags}`);
  }

  private conf(h: HarnessNode): void {
    const { voters, learners } = h.node.status().conf;
    this.print(`${h.id} voters=(${voters.join(' ')}) learners=(${learners.join(' ')})`);
  }

  private log(h: HarnessNode): void {
    const st = h.storage;
    const snap = st.snapshot().meta;
    if (snap.index > 0) this.print(`snapshot ${snap.index}/${snap.term}`);
    if (st.lastIndex() < st.firstIndex()) {
      if (snap.index === 0) this.print('empty');
      return;
    }
    for (const e of st.entries(st.firstIndex(), st.lastIndex() + 1, Number.MAX_SAFE_INTEGER)) this.print(describeEntry(e));
  }

  private progress(h: HarnessNode): void {
    if (h.node.status().role !== 'leader') {
      this.print(`${h.id} is not the leader`);
      return;
    }
    for (const p of h.node.progress()) if (p.id !== h.id) this.print(`${p.id} match=${p.match} next=${p.next} ${p.state}`);
  }

  private state(h: HarnessNode): void {
    this.print(`${h.id} state=[${h.state}]`);
  }
}

function roleKey(h: HarnessNode): string {
  const s = h.node.status();
  return `${s.role} at term ${s.term}`;
}
