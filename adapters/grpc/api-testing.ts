// Test support for the client API: 1 or 3 in-process managers, each the real core Manager on a real
// RaftNode with MemoryStorage, driven by the smallest Ready loop a shell can have (persist, send,
// apply, advance, then deliver answers), ticked by a timer, with messages passed through an
// in-process bus that can isolate a manager; each serves the API with an ApiServer on a loopback
// port. Not part of the public surface.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { defaultManagerConfig, Manager, type ManagerConfig, type ProposeOutcome } from '../../core/manager/manager.ts';
import { MemoryStorage, nodeId, RaftNode, type Message, type NodeId } from '../../core/raft/index.ts';
import { testRandom } from '../../core/raft/harness.ts';
import type { StateCommand, StateView } from '../../core/state/index.ts';
import { ApiClient, type ApiClientOptions } from './api-client.ts';
import { ApiError } from './api-errors.ts';
import type { AppliedCommand } from './api-events.ts';
import { ApiServer, type ApiManager, type ApiServerOptions } from './api-server.ts';
import type { ManagerAddress } from './api-types.ts';

export const TEST_CLUSTER_ID = 'cluster-api-test';

/** The ApiError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then((answer) => assert.fail(`expected a failure, got ${JSON.stringify(answer).slice(0, 200)}`), (e: unknown) => e);
  assert.ok(error instanceof ApiError, `expected an ApiError, got ${String(error)}`);
  return error;
}

export interface TestClusterOptions {
  readonly size: number;
  readonly managerConfig?: ManagerConfig;
  readonly server?: Partial<ApiServerOptions>;
  readonly tickMs?: number;
}

export class TestManager implements ApiManager {
  readonly storage = new MemoryStorage();
  readonly node: RaftNode;
  readonly manager: Manager;
  api!: ApiServer;
  apiAddress = '';
  private applied = 0;
  private readonly listeners = new Set<(applied: AppliedCommand) => void>();

  constructor(readonly id: NodeId, private readonly cluster: TestCluster, voters: readonly NodeId[], seed: number, config: ManagerConfig) {
    this.storage.bootstrap({ voters: [...voters], learners: [] });
    this.node = new RaftNode({ id, random: testRandom(seed), applied: 0, electionTicks: 10, heartbeatTicks: 1 }, this.storage);
    let ids = 0;
    this.manager = new Manager(id, () => this.node, {
      nowUs: () => Date.now() * 1000,
      appliedIndex: () => this.applied,
      idSource: (term) => () => `${id}-${term}-${++ids}`,
    }, config);
    this.manager.watch = {
      applied: (_, index, command, result) => {
        for (const listener of [...this.listeners]) listener({ index, command, result });
      },
      reconciled: () => {},
    };
  }

  state(): StateView {
    return this.manager.state;
  }

  propose(command: StateCommand, onDone: (outcome: ProposeOutcome) => void): void {
    this.manager.proposeClient(command, onDone);
    this.pump();
  }

  leader(): ManagerAddress | null {
    const leader = this.node.status().leader;
    return leader === null ? null : { id: leader, apiAddress: this.cluster.apiAddressOf(leader) };
  }

  subscribe(listener: (applied: AppliedCommand) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  appliedIndex(): number {
    return this.applied;
  }

  info() {
    const status = this.node.status();
    const managers = [...status.conf.voters].sort().map((id) => ({ id, apiAddress: this.cluster.apiAddressOf(id) }));
    return { clusterId: TEST_CLUSTER_ID, term: status.term, commitIndex: status.commit, appliedIndex: this.applied, managers };
  }

  /** Proposes a command of the cluster's own traffic (not a client's), e.g. a node registering. */
  proposeInternal(command: StateCommand): Promise<ProposeOutcome> {
    return new Promise((resolve) => {
      this.manager.propose(command, resolve);
      this.pump();
    });
  }

  tick(): void {
    this.manager.tick();
    this.node.tick();
    this.pump();
  }

  step(message: Message): void {
    this.node.step(message);
    this.pump();
  }

  pump(): void {
    while (this.node.hasReady()) {
      const ready = this.node.ready();
      if (ready.snapshot !== null) throw new Error('the API test cluster never compacts, so it never sends snapshots');
      this.storage.append(ready.entries);
      if (ready.hardState) this.storage.setHardState(ready.hardState);
      this.cluster.send(ready.messages);
      for (const entry of ready.committed) {
        if (entry.type === 'conf') this.node.applyConfEntry(entry);
        else if (entry.data !== '') this.manager.apply(entry);
        this.applied = entry.index;
      }
      this.node.advance(ready);
    }
    this.manager.deliverAnswers();
  }
}

export class TestCluster {
  readonly members: TestManager[] = [];
  /** Managers cut off from the others (their messages are dropped both ways). */
  readonly isolated = new Set<NodeId>();
  /** API addresses the managers report for each other; a test may point one elsewhere. */
  readonly apiAddresses = new Map<NodeId, string | null>();
  readonly secretKey = randomBytes(32);
  private timer: NodeJS.Timeout | null = null;
  private readonly clients: ApiClient[] = [];

  static async start(options: TestClusterOptions): Promise<TestCluster> {
    const cluster = new TestCluster();
    const ids = Array.from({ length: options.size }, (_, i) => nodeId(`m${i + 1}`));
    for (const [i, id] of ids.entries()) {
      const member = new TestManager(id, cluster, ids, 7 + i, options.managerConfig ?? defaultManagerConfig);
      member.api = new ApiServer({ manager: member, listen: '127.0.0.1:0', secretKey: cluster.secretKey, ...options.server });
      member.apiAddress = `127.0.0.1:${await member.api.start()}`;
      cluster.apiAddresses.set(id, member.apiAddress);
      cluster.members.push(member);
    }
    cluster.timer = setInterval(() => {
      for (const member of cluster.members) member.tick();
    }, options.tickMs ?? 10);
    cluster.members[0]!.node.campaign();
    cluster.members[0]!.pump();
    await cluster.waitFor('a leader', () => cluster.leader() !== undefined);
    return cluster;
  }

  apiAddressOf(id: NodeId): string | null {
    return this.apiAddresses.get(id) ?? null;
  }

  member(id: string): TestManager {
    return this.members.find((m) => m.id === id)!;
  }

  /** The manager that leads, as its own Raft node says (and that is not isolated). */
  leader(): TestManager | undefined {
    return this.members.find((m) => !this.isolated.has(m.id) && m.node.role() === 'leader' && m.manager.isLeader());
  }

  followers(): TestManager[] {
    return this.members.filter((m) => m !== this.leader());
  }

  send(messages: readonly Message[]): void {
    for (const message of messages) {
      setImmediate(() => {
        if (this.isolated.has(message.from) || this.isolated.has(message.to)) return;
        this.member(message.to)?.step(message);
      });
    }
  }

  client(addresses: readonly string[], options: Partial<ApiClientOptions> = {}): ApiClient {
    const client = new ApiClient({ addresses, timeoutMs: 5000, connectTimeoutMs: 1000, ...options });
    this.clients.push(client);
    return client;
  }

  async waitFor(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    for (const client of this.clients) client.close();
    await Promise.all(this.members.map((m) => m.api.close()));
  }
}
