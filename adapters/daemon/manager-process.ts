// A manager daemon's moving parts, assembled: the write-ahead log (adapters/storage), the Raft server
// on it (./raft-server.ts), the Raft transport to the other managers (adapters/grpc), the manager's
// control logic (core/manager: the cluster store, client proposals, the leader's reconcile passes)
// and the worker endpoint serving heartbeats over gRPC. The same core code the simulator runs; only
// the shell differs (wall-clock time, random ids, real disk and network).
// Invariants: the storage is opened (and recovered) before anything listens; stop() closes listeners
// first, then waits for the Ready in flight, then closes the storage, so nothing acknowledged is lost.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { defaultManagerConfig, Manager, type ManagerConfig, type ProposeCallback } from '../../core/manager/manager.ts';
import { ManagerEndpoint, type EndpointHost } from '../../core/manager/endpoint.ts';
import { nodeId, type NodeId, type RaftNode } from '../../core/raft/index.ts';
import type { StateCommand } from '../../core/state/index.ts';
import { RaftTransport } from '../grpc/raft-transport.ts';
import { addWorkerService } from '../grpc/worker-service.ts';
import { openStorage, type WalStorage } from '../storage/index.ts';
import { defaultRaftServerOptions, RaftServer, type RaftServerOptions } from './raft-server.ts';

export interface ManagerProcessOptions {
  readonly id: string;
  readonly clusterId: string;
  readonly dataDir: string;
  /** host:port for Raft between managers (port 0: the OS picks; see ports()). */
  readonly raftListen: string;
  /** host:port for worker heartbeats. */
  readonly workerListen: string;
  /** The other managers' Raft addresses, by id. */
  readonly peers: Readonly<Record<string, string>>;
  /** The initial voters when this node starts a new cluster with an empty data dir; null to join or restart. */
  readonly bootstrap: readonly string[] | null;
  readonly raft?: Partial<RaftServerOptions>;
  readonly manager?: ManagerConfig;
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
}

const nowUs = (): number => Date.now() * 1000;

export class ManagerProcess {
  private constructor(
    readonly id: string,
    readonly manager: Manager,
    readonly server: RaftServer,
    readonly storage: WalStorage,
    readonly transport: RaftTransport,
    private readonly workerServer: grpc.Server,
    private readonly boundPorts: { readonly raft: number; readonly worker: number },
  ) {}

  static async start(options: ManagerProcessOptions): Promise<ManagerProcess> {
    const log = options.log ?? (() => {});
    let opened = await openStorage(options.dataDir);
    if (options.bootstrap !== null && opened.recovered.snapshot === null && opened.recovered.entries.length === 0) {
      await opened.storage.bootstrap({ voters: options.bootstrap.map((v) => nodeId(v)), learners: [] });
      await opened.storage.close();
      opened = await openStorage(options.dataDir);
    }
    for (const repair of opened.recovered.repairs) log('storage-repaired', { repair });
    let server: RaftServer | null = null;
    const manager = new Manager(nodeId(options.id), () => server!.node, {
      nowUs,
      appliedIndex: () => server?.appliedTo() ?? 0,
      idSource: () => () => randomBytes(6).toString('hex'),
    }, options.manager ?? defaultManagerConfig);
    const transport = new RaftTransport({
      id: nodeId(options.id),
      clusterId: options.clusterId,
      listen: options.raftListen,
      peers: new Map(Object.entries(options.peers).map(([id, address]) => [nodeId(id), address])),
    });
    server = new RaftServer(options.id, opened.storage, opened.recovered, (messages) => transport.send(messages), {
      restore: (data) => manager.restoreState(data),
      snapshot: () => manager.snapshotState(),
      apply: (entry) => manager.apply(entry),
      onTick: () => manager.tick(),
      onRoleChange: (role) => {
        manager.observeLeadership();
        log('role', { role, term: manager.term() });
      },
      afterLoop: () => manager.deliverAnswers(),
    }, { ...defaultRaftServerOptions, ...options.raft }, {
      fatal: (error) => log('storage-failed', { error: error.message }),
      diskFull: (full) => log(full ? 'disk-full' : 'disk-has-room', {}),
      snapshotFailed: (error) => log('snapshot-failed', { error: error.message }),
    });
    const raftServer = server;
    transport.onMessage((message) => raftServer.receive(message));
    const raftPort = await transport.start();

    const host: EndpointHost = {
      id: nodeId(options.id) as NodeId,
      epoch: 0,
      get node(): RaftNode {
        return raftServer.node;
      },
      get state() {
        return manager.state;
      },
      isLeader: () => manager.isLeader(),
      recordHeartbeat: (node, atUs) => manager.recordHeartbeat(node, atUs),
      propose: (command: StateCommand, onDone: ProposeCallback) => {
        manager.propose(command, onDone);
        raftServer.pump();
      },
      appliedTo: () => raftServer.appliedTo(),
    };
    const endpoint = new ManagerEndpoint(host);
    const workerServer = new grpc.Server();
    addWorkerService(workerServer, options.clusterId, (heartbeat) => endpoint.onHeartbeat(heartbeat, nowUs()));
    const workerPort = await new Promise<number>((resolve, reject) => {
      workerServer.bindAsync(options.workerListen, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
    raftServer.start();
    log('started', { raftPort, workerPort, applied: raftServer.appliedTo() });
    return new ManagerProcess(options.id, manager, raftServer, opened.storage, transport, workerServer, { raft: raftPort, worker: workerPort });
  }

  ports(): { readonly raft: number; readonly worker: number } {
    return this.boundPorts;
  }

  /** A client request through this manager (the API's path): answered once applied, or refused. */
  proposeClient(command: StateCommand, onDone: ProposeCallback): void {
    this.manager.proposeClient(command, onDone);
    this.server.pump();
  }

  isLeader(): boolean {
    return this.manager.isLeader();
  }

  /** Stop listening, finish the write in flight, close the disk. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.workerServer.tryShutdown(() => resolve()));
    await this.transport.close();
    await this.server.stop();
    await this.storage.close();
  }
}
