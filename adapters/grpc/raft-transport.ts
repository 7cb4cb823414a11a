// Raft between managers over gRPC: the transport port of one manager (DESIGN.md, "Ports"). The shell
// hands it the messages of each Ready (send) and steps the core with what it delivers (onMessage).
//
// Outbound, per peer: a bounded queue drained into one long-lived client-streaming call, a frame
// (one gRPC message) at a time, each frame carrying everything queued when the previous write
// completed; reconnects with capped exponential backoff and jitter (peer-link.ts, outbound-queue.ts,
// backoff.ts). Inbound: one gRPC server; a stream is accepted only from the same cluster and when
// addressed to this node (raft-service.ts), and messages are delivered in order per sender
// (inbound.ts). Format of frames and messages: raft-codec.ts; metadata: raft-service.ts.
//
// Guarantees and non-guarantees, as Raft needs them: delivery is best effort. Messages to one peer
// are delivered in the order they were sent, possibly with gaps (drops while the queue is over its
// bound, a frame lost with a failed stream, everything queued at close()), never reordered within a
// stream. send() never blocks and never throws. Every drop is counted in stats() with its cause.
//
// What sits beside this later (the worker protocol, the client API) gets its own service file and
// handler in this folder; the codec, the metadata identity check and the credentials are shared.

import * as grpc from '@grpc/grpc-js';
import type { Message, NodeId } from '../../core/raft/index.ts';
import { Inbound, type InboundStats } from './inbound.ts';
import { resolveOptions, serverOptions, type RaftTransportOptions, type ResolvedOptions } from './options.ts';
import { PeerLink, type PeerStats } from './peer-link.ts';
import { RAFT_STREAM_PATH, raftServiceDefinition } from './raft-service.ts';
import { bindServer, shutdownServer } from './server.ts';

export interface RaftTransportStats extends InboundStats {
  readonly id: NodeId;
  readonly clusterId: string;
  /** Outbound, by peer id (sorted). */
  readonly outbound: Readonly<Record<string, PeerStats>>;
  /** Messages sent to a node id that is not a configured peer (or to ourselves), not sent. */
  readonly unknownPeerMessages: number;
  /** Messages received before onMessage() set a handler, or passed to send() after close(). */
  readonly undeliveredMessages: number;
}

type TransportState = 'new' | 'starting' | 'started' | 'closed';

export class RaftTransport {
  private readonly options: ResolvedOptions;
  private readonly links = new Map<NodeId, PeerLink>();
  /** Links removed by setPeers() that are still closing; close() waits for them. */
  private readonly retiring = new Set<Promise<void>>();
  private readonly inbound: Inbound;
  private readonly server: grpc.Server;
  /** Whether the server is this transport's own (bound and shut down here) or its owner's. */
  private readonly ownsServer: boolean;
  private handler: ((message: Message) => void) | null = null;
  private state: TransportState = 'new';
  private closing: Promise<void> | null = null;
  private unknownPeerMessages = 0;
  private undeliveredMessages = 0;
  private readonly unknownPeersLogged = new Set<string>();

  constructor(options: RaftTransportOptions) {
    this.options = resolveOptions(options);
    this.inbound = new Inbound(this.options.id, this.options.clusterId, this.options.logger, (message) => this.deliver(message));
    this.ownsServer = options.server === undefined;
    this.server = options.server ?? new grpc.Server(serverOptions(this.options));
    this.server.addService(raftServiceDefinition, { Stream: this.inbound.handle });
    this.setPeers(options.peers);
  }

  get id(): NodeId {
    return this.options.id;
  }

  /** Binds the server; resolves to the bound port (useful with port 0). A shared server is its owner's to bind: then 0. */
  async start(): Promise<number> {
    if (this.state !== 'new') throw new Error(`raft transport ${this.options.id}: start() called when ${this.state}`);
    if (!this.ownsServer) {
      this.state = 'started';
      return 0;
    }
    this.state = 'starting';
    const port = await bindServer(this.server, this.options.listen, this.options.serverCredentials);
    if (this.closing !== null) return port; // close() was called while binding
    this.state = 'started';
    this.options.logger.info({ node: this.options.id, listen: this.options.listen, port }, 'raft transport listening');
    return port;
  }

  /** The handler receiving every accepted message, in order per sender. One handler; a new one replaces it. */
  onMessage(handler: (message: Message) => void): void {
    this.handler = handler;
  }

  /** Queues messages for their peers. Never blocks, never throws; see stats() for what was dropped. */
  send(messages: readonly Message[]): void {
    for (const message of messages) {
      if (this.state === 'closed') {
        this.undeliveredMessages++;
        continue;
      }
      const link = this.links.get(message.to);
      if (link === undefined) {
        this.unknownPeer(message);
        continue;
      }
      try {
        link.enqueue(message);
      } catch (error) {
        // Only a bug in this module could get here; the caller must still never see it.
        this.options.logger.error({ peer: message.to, type: message.type, error: String(error) }, 'raft transport failed to queue a message');
      }
    }
  }

  /** Replaces the peer set (a membership change). Removed peers' queues are dropped ('closed'). */
  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    if (this.state === 'closed') return;
    for (const [id, link] of [...this.links]) {
      if (peers.has(id) && id !== this.options.id) continue;
      this.links.delete(id);
      const closing = link.close(this.options.closeTimeoutMs);
      this.retiring.add(closing);
      void closing.then(() => this.retiring.delete(closing));
    }
    for (const [id, address] of peers) {
      if (id === this.options.id) continue;
      const link = this.links.get(id);
      if (link) link.setAddress(address);
      else this.links.set(id, new PeerLink(id, address, this.options));
    }
  }

  stats(): RaftTransportStats {
    const outbound: Record<string, PeerStats> = {};
    for (const id of [...this.links.keys()].sort()) outbound[id] = this.links.get(id)!.stats();
    return {
      id: this.options.id,
      clusterId: this.options.clusterId,
      outbound,
      unknownPeerMessages: this.unknownPeerMessages,
      undeliveredMessages: this.undeliveredMessages,
      ...this.inbound.stats(),
    };
  }

  /** Ends the streams in both directions and shuts the server down; idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const wasListening = this.state !== 'new';
    this.state = 'closed';
    this.inbound.closeAll();
    const links = [...this.links.values()];
    await Promise.all([...links.map((link) => link.close(this.options.closeTimeoutMs)), ...this.retiring]);
    if (!this.ownsServer) this.server.unregister(RAFT_STREAM_PATH);
    else if (wasListening) await shutdownServer(this.server, this.options.closeTimeoutMs);
    else this.server.forceShutdown();
    this.options.logger.info({ node: this.options.id }, 'raft transport closed');
  }

  private deliver(message: Message): void {
    if (this.handler === null || this.state === 'closed') {
      this.undeliveredMessages++;
      return;
    }
    this.handler(message);
  }

  private unknownPeer(message: Message): void {
    this.unknownPeerMessages++;
    if (this.unknownPeersLogged.has(message.to) || this.unknownPeersLogged.size >= 256) return;
    this.unknownPeersLogged.add(message.to);
    this.options.logger.warn({ node: this.options.id, to: message.to, type: message.type }, 'raft message for a node that is not a configured peer; dropped');
  }
}
