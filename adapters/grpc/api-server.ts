// The server of the client API (service warren.api.v1.Cluster, api-service.ts) on one manager.
// It sees the manager only through ApiManager, which the daemon adapts from its Manager and Raft
// server, and the tests from in-process managers.
//
// Reads are answered from the local store and say who served them and at which applied index; a
// read with `leaderOnly` sent to a follower is relayed to the leader. Writes are parsed, built into
// a store command against the leader's store (api-writes.ts), proposed, and answered once applied;
// a manager that does not lead relays the call to the leader's API address, once (a relayed call
// is never relayed again), and answers UNAVAILABLE, with the leader's address when it knows it, if
// there is no leader or it cannot be reached. Every failure maps to a status as api-errors.ts says;
// a write whose fate is not known is always reported as such, never as a failure. A call that comes
// on a Calls stream (api-calls.ts) is served exactly as the same unary call.
// Bounds: request size, list length, relayed calls in flight, event subscribers and each one's
// buffer, and the wait for a proposal's answer.

import * as grpc from '@grpc/grpc-js';
import type { ProposeOutcome } from '../../core/manager/manager.ts';
import { nodeId } from '../../core/raft/index.ts';
import type { NodeId, StateCommand, StateView } from '../../core/state/index.ts';
import { CallSender, ServedCallStream, type CallResult, type CallsHost } from './api-calls.ts';
import { apiChannelOptions, ChannelPool, connect } from './api-channel.ts';
import { defaultRetryAfterMs, proposalFailure, toStatus, type ApiFailure } from './api-errors.ts';
import { EventSubscriber, type AppliedCommand } from './api-events.ts';
import { clusterInfo, isFailure, serveRead, type ReadMethod } from './api-reads.ts';
import { parseEventsRequest, parseRequest } from './api-requests.ts';
import { checkJoinProof, SecretSealer } from './api-secrets.ts';
import {
  apiMethods, apiServiceDefinition, CALLS_METHOD, encodeJson, EVENTS_METHOD, METADATA_APPLIED_INDEX, METADATA_FORWARDED_BY, METADATA_SERVED_BY,
  metadataValue, methodPath, statusName, unaryMethods,
} from './api-service.ts';
import type { ApiRequest, ManagerAddress, Served, UnaryMethod } from './api-types.ts';
import { buildWrite, newObjectId, type WriteMethod } from './api-writes.ts';
import { leanGrpcOptions, positiveIntegerLimits, silentLogger, type TransportLogger } from './options.ts';
import { bindServer, shutdownServer } from './server.ts';

export type MembershipResult = { readonly ok: true; readonly managers: readonly ManagerAddress[] } | { readonly ok: false; readonly failure: ApiFailure };

/** What the API needs of the manager it runs on. */
export interface ApiManager {
  readonly id: NodeId;
  /** The store as applied on this manager. */
  state(): StateView;
  /** A client write (admission-controlled); `onDone` is called exactly once, as Manager.proposeClient does. */
  propose(command: StateCommand, onDone: (outcome: ProposeOutcome) => void): void;
  /** The leader as this manager knows it (itself when it leads), or null during an election. */
  leader(): ManagerAddress | null;
  /** Calls `listener` with each command applied to the store from now on, in index order; returns the unsubscribe. */
  subscribe(listener: (applied: AppliedCommand) => void): () => void;
  /**
   * Adds a manager as a learner (promoted to voter once caught up), on the leader; resolves once the
   * change is applied, to every manager's address, or to why not. Absent: this manager cannot.
   */
  join?(id: NodeId, address: string): Promise<MembershipResult>;
  /** Removes a manager, on the leader; resolves once applied, to the managers left, or to why not. Absent: this manager cannot. */
  removeManager?(id: NodeId): Promise<MembershipResult>;
  /** This manager's applied index (cheap: asked for every answer). */
  appliedIndex(): number;
  info(): {
    readonly clusterId: string;
    readonly term: number;
    readonly commitIndex: number;
    readonly appliedIndex: number;
    readonly managers: readonly ManagerAddress[];
    readonly removedManagers?: readonly string[];
  };
}

export interface ApiServerLimits {
  readonly maxRequestBytes: number;
  readonly maxResponseBytes: number;
  /** Items in one list answer (and the largest `limit`). */
  readonly maxListItems: number;
  readonly maxSubscribers: number;
  readonly maxBufferedEvents: number;
  readonly maxEventIds: number;
  /** Calls relayed to the leader and not yet answered; beyond it, RESOURCE_EXHAUSTED. */
  readonly maxForwardsInFlight: number;
  /** Calls in flight on one Calls stream; beyond it, RESOURCE_EXHAUSTED. */
  readonly maxCallsPerStream: number;
  readonly forwardConnectTimeoutMs: number;
  /** Bound on a relayed call (less when the caller's deadline is sooner). */
  readonly forwardTimeoutMs: number;
  /** Bound on the wait for a proposal's answer; then the outcome is reported unknown. */
  readonly writeTimeoutMs: number;
  readonly closeTimeoutMs: number;
}

export const defaultApiServerLimits: ApiServerLimits = {
  maxRequestBytes: 2 * 1024 * 1024,
  maxResponseBytes: 64 * 1024 * 1024,
  maxListItems: 10_000,
  maxSubscribers: 64,
  maxBufferedEvents: 4096,
  maxEventIds: 256,
  maxForwardsInFlight: 256,
  maxCallsPerStream: 1024,
  forwardConnectTimeoutMs: 2000,
  forwardTimeoutMs: 15_000,
  writeTimeoutMs: 30_000,
  closeTimeoutMs: 1000,
};

export interface ApiServerOptions extends Partial<ApiServerLimits> {
  readonly manager: ApiManager;
  /** host:port (port 0: the OS chooses; start() returns it) or unix:/path. */
  readonly listen: string;
  /** The cluster's 32-byte key: secret values are sealed under it (api-secrets.ts). */
  readonly secretKey: Buffer;
  /** Defaults to insecure; the daemon passes mutual TLS (and a Unix socket for the local CLI). */
  readonly serverCredentials?: grpc.ServerCredentials;
  /** For calls relayed to the leader. */
  readonly channelCredentials?: grpc.ChannelCredentials;
  readonly logger?: TransportLogger;
  /** The wall clock in microseconds, stamped on commands as atUs. */
  readonly nowUs?: () => number;
  readonly newId?: () => string;
  /**
   * A gRPC server shared with the manager's other services (one port): the API adds its service to
   * it, and its owner binds and shuts it down; `listen`, `serverCredentials` and the size limits of
   * the server are then the owner's (apiServerOptions() gives the options it needs).
   */
  readonly server?: grpc.Server;
  /** Told of each call (unary or on a Calls stream) once answered: its method, status code (0 for OK) and duration (the daemon's metrics). */
  readonly onRequest?: (method: string, code: number, seconds: number) => void;
}

/** The gRPC server options the API needs, for a server of its own or a shared one. */
export function apiServerOptions(limits: Pick<ApiServerLimits, 'maxRequestBytes' | 'maxResponseBytes'> = defaultApiServerLimits): grpc.ServerOptions {
  return { ...leanGrpcOptions, 'grpc.max_receive_message_length': limits.maxRequestBytes, 'grpc.max_send_message_length': limits.maxResponseBytes };
}

export interface ApiServerStats {
  readonly forwarded: number;
  readonly forwardFailures: number;
  readonly subscribers: number;
  readonly subscribersCutOff: number;
  /** Calls received (unary or on a Calls stream) and not yet answered. */
  readonly inFlight: number;
}

type Answer = CallResult;

/** One call as the server sees it, from a unary call or a Calls stream. */
interface Incoming {
  readonly request: Buffer;
  /** The manager that relayed the call to this one (it is never relayed again). */
  readonly forwardedBy: string | null;
  /** When the caller stops waiting (ms since the epoch; Infinity when it did not say). */
  readonly deadlineMs: number;
}

export class ApiServer {
  private readonly manager: ApiManager;
  private readonly limits: ApiServerLimits;
  private readonly server: grpc.Server;
  /** Whether the server is this API's own (bound and shut down here) or its owner's. */
  private readonly ownsServer: boolean;
  private readonly pool: ChannelPool;
  /** Calls relayed to the leader, marked as relayed by this manager. */
  private readonly relays: CallSender;
  private readonly sealer: SecretSealer;
  private readonly logger: TransportLogger;
  private readonly nowUs: () => number;
  private readonly newId: () => string;
  private readonly subscribers = new Set<EventSubscriber>();
  private readonly callStreams = new Set<ServedCallStream>();
  private forwardsInFlight = 0;
  private inFlight = 0;
  private counts = { forwarded: 0, forwardFailures: 0, subscribersCutOff: 0 };
  private closing: Promise<void> | null = null;

  constructor(private readonly options: ApiServerOptions) {
    this.manager = options.manager;
    this.limits = positiveIntegerLimits(defaultApiServerLimits, options, 'api server');
    this.sealer = new SecretSealer(options.secretKey);
    this.logger = options.logger ?? silentLogger;
    this.nowUs = options.nowUs ?? (() => Date.now() * 1000);
    this.newId = options.newId ?? newObjectId;
    const channelOptions = apiChannelOptions(this.limits.maxResponseBytes);
    this.pool = new ChannelPool(options.channelCredentials ?? grpc.credentials.createInsecure(), channelOptions, 16);
    const relayed = new grpc.Metadata();
    relayed.set(METADATA_FORWARDED_BY, this.manager.id);
    this.relays = new CallSender(relayed);
    this.ownsServer = options.server === undefined;
    this.server = options.server ?? new grpc.Server(apiServerOptions(this.limits));
    const handlers: grpc.UntypedServiceImplementation = {
      [EVENTS_METHOD]: (call: grpc.ServerWritableStream<Buffer, Buffer>) => this.events(call),
      [CALLS_METHOD]: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.calls(call),
    };
    for (const method of unaryMethods) {
      handlers[method] = (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const deadline = call.getDeadline();
        const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
        const incoming = { request: call.request, forwardedBy: metadataValue(call.metadata, METADATA_FORWARDED_BY), deadlineMs: Number.isFinite(deadlineMs) ? deadlineMs : Infinity };
        void this.serve(method, incoming).then((answer) => (answer.ok ? callback(null, answer.body) : callback(answer.status)));
      };
    }
    this.server.addService(apiServiceDefinition, handlers);
  }

  /** One call, from either path: counted, timed for the metrics, answered. */
  private async serve(method: UnaryMethod, incoming: Incoming): Promise<Answer> {
    const startMs = performance.now();
    this.inFlight++;
    const answer = await this.handle(method, incoming);
    this.inFlight--;
    this.options.onRequest?.(method, answer.ok ? grpc.status.OK : answer.status.code ?? grpc.status.UNKNOWN, (performance.now() - startMs) / 1000);
    return answer;
  }

  private calls(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    const self = this.manager.id;
    if (this.closing !== null) return void call.emit('error', toStatus({ code: grpc.status.UNAVAILABLE, outcome: 'not-applied', message: `manager ${self} is shutting down; call another manager` }, self));
    const forwardedBy = metadataValue(call.metadata, METADATA_FORWARDED_BY);
    const host: CallsHost = {
      self,
      maxCallsInFlight: this.limits.maxCallsPerStream,
      isMethod: (method): method is UnaryMethod => Object.hasOwn(apiMethods, method),
      serve: (method, request, deadlineMs) => this.serve(method, { request, forwardedBy, deadlineMs }),
      refusal: (code, message, outcome) => toStatus({ code, message, outcome }, self),
    };
    const stream: ServedCallStream = new ServedCallStream(call, host, () => this.callStreams.delete(stream));
    this.callStreams.add(stream);
  }

  /** Binds the server; resolves to the bound port. A shared server is its owner's to bind: then 0. */
  async start(): Promise<number> {
    if (!this.ownsServer) return 0;
    const credentials = this.options.serverCredentials ?? grpc.ServerCredentials.createInsecure();
    const port = await bindServer(this.server, this.options.listen, credentials);
    this.logger.info({ node: this.manager.id, listen: this.options.listen, port }, 'client API listening');
    return port;
  }

  stats(): ApiServerStats {
    return { ...this.counts, subscribers: this.subscribers.size, inFlight: this.inFlight };
  }

  /**
   * Ends event streams (UNAVAILABLE) and Calls streams (once their calls are answered), waits up to
   * closeTimeoutMs for the calls in flight, closes relay channels and shuts the server down; idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    for (const subscriber of [...this.subscribers]) subscriber.close(grpc.status.UNAVAILABLE, `manager ${this.manager.id} is shutting down; subscribe to another manager`);
    for (const stream of [...this.callStreams]) stream.close();
    // Calls in flight are answered first (a relayed one needs its channel to the leader), for a while.
    const deadline = Date.now() + this.limits.closeTimeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    this.relays.close();
    this.pool.closeAll();
    if (!this.ownsServer) {
      for (const method of [...unaryMethods, EVENTS_METHOD, CALLS_METHOD]) this.server.unregister(methodPath(method));
      return;
    }
    await shutdownServer(this.server, this.limits.closeTimeoutMs);
  }

  private served(): Served {
    return { servedBy: this.manager.id, appliedIndex: this.manager.appliedIndex() };
  }

  private fail(failure: ApiFailure): Answer {
    return { ok: false, status: toStatus(failure, this.manager.id) };
  }

  private leads(): boolean {
    return this.manager.leader()?.id === this.manager.id;
  }

  private async handle(method: UnaryMethod, call: Incoming): Promise<Answer> {
    try {
      const parsed = parseRequest(method, call.request, this.limits);
      if (!parsed.ok) return this.fail(parsed.failure);
      const forwardedBy = call.forwardedBy;
      if (apiMethods[method] === 'read') {
        const request = parsed.value as { leaderOnly?: boolean };
        if (request.leaderOnly === true && !this.leads()) return await this.toLeader(method, call, forwardedBy);
        return this.read(method, parsed.value);
      }
      if (!this.leads()) return await this.toLeader(method, call, forwardedBy);
      if (method === 'ManagerJoin') return await this.join(parsed.value as ApiRequest<'ManagerJoin'>);
      if (method === 'ManagerRemove') return await this.removeManager(parsed.value as ApiRequest<'ManagerRemove'>);
      return await this.write(method as WriteMethod, parsed.value, call, forwardedBy);
    } catch (error) {
      this.logger.error({ node: this.manager.id, method, error: String(error) }, 'client API call failed with an internal error');
      return this.fail({ code: grpc.status.INTERNAL, message: `manager ${this.manager.id} failed to serve ${method}: ${String(error)}` });
    }
  }

  private read(method: UnaryMethod, request: unknown): Answer {
    if (method === 'ClusterInfo') {
      const info = this.manager.info();
      const facts = { clusterId: info.clusterId, term: info.term, commitIndex: info.commitIndex, managers: info.managers, leader: this.manager.leader(), removedManagers: info.removedManagers ?? [] };
      return { ok: true, body: encodeJson(clusterInfo(facts, this.served())) };
    }
    const answer = serveRead(method as ReadMethod, request as never, this.manager.state(), this.served(), this.limits.maxListItems);
    return isFailure(answer) ? this.fail(answer) : { ok: true, body: encodeJson(answer) };
  }

  private async join(request: ApiRequest<'ManagerJoin'>): Promise<Answer> {
    const self = this.manager.id;
    const clusterId = this.manager.info().clusterId;
    if (!checkJoinProof(request.proof, this.options.secretKey, clusterId, request.id, request.address)) {
      return this.fail({ code: grpc.status.PERMISSION_DENIED, message: `manager ${request.id} is refused: its proof does not match cluster ${clusterId}'s key; give warren manager join the cluster's key file (--secret-key-file)` });
    }
    if (this.manager.join === undefined) return this.fail({ code: grpc.status.UNIMPLEMENTED, message: `manager ${self} cannot add managers` });
    const joined = await this.manager.join(nodeId(request.id), request.address);
    if (!joined.ok) return this.fail(joined.failure);
    this.logger.info({ node: self, peer_id: request.id, address: request.address }, 'manager joined as a learner');
    return { ok: true, body: encodeJson({ ...this.served(), clusterId, managers: joined.managers }) };
  }

  private async removeManager(request: ApiRequest<'ManagerRemove'>): Promise<Answer> {
    const self = this.manager.id;
    if (this.manager.removeManager === undefined) return this.fail({ code: grpc.status.UNIMPLEMENTED, message: `manager ${self} cannot remove managers` });
    const removed = await this.manager.removeManager(nodeId(request.id));
    if (!removed.ok) return this.fail(removed.failure);
    this.logger.info({ node: self, peer_id: request.id }, 'manager removed from the cluster');
    return { ok: true, body: encodeJson({ ...this.served(), managers: removed.managers }) };
  }

  private async write(method: WriteMethod, request: unknown, call: Incoming, forwardedBy: string | null): Promise<Answer> {
    const built = buildWrite(method, request as never, { state: this.manager.state(), nowUs: this.nowUs(), sealer: this.sealer, newId: this.newId });
    if (isFailure(built)) return this.fail(built);
    const outcome = await this.propose(built.command);
    if (outcome === 'timeout') {
      const message = `outcome unknown; the request may have been applied; check before retrying (manager ${this.manager.id} had no answer for it within ${this.limits.writeTimeoutMs} ms)`;
      return this.fail({ code: grpc.status.UNAVAILABLE, outcome: 'unknown', message });
    }
    if (outcome.ok) return { ok: true, body: encodeJson(built.respond(this.manager.state(), this.served())) };
    if (outcome.code === 'not-leader') return this.toLeader(method, call, forwardedBy);
    return this.fail(proposalFailure(outcome, this.manager.id, this.manager.leader()));
  }

  private propose(command: StateCommand): Promise<ProposeOutcome | 'timeout'> {
    return new Promise((resolve) => {
      let answered = false;
      const timer = setTimeout(() => {
        answered = true;
        resolve('timeout');
      }, this.limits.writeTimeoutMs);
      this.manager.propose(command, (outcome) => {
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        resolve(outcome);
      });
    });
  }

  /** Relays a call this manager should not serve itself to the leader, or says why it cannot. */
  private async toLeader(method: UnaryMethod, call: Incoming, forwardedBy: string | null): Promise<Answer> {
    const self = this.manager.id;
    const leader = this.manager.leader();
    const unavailable = (message: string): Answer => this.fail({ code: grpc.status.UNAVAILABLE, outcome: 'not-applied', leader, message });
    if (forwardedBy !== null) {
      const belief = leader === null ? 'it knows no leader' : `it believes ${leader.id} leads`;
      return unavailable(`manager ${self} received ${method} relayed by manager ${forwardedBy} but does not lead (${belief}); leadership is changing: retry shortly`);
    }
    if (leader === null) return unavailable(`manager ${self} does not lead and knows no leader (an election may be in progress); retry shortly`);
    if (leader.id === self) return unavailable(`manager ${self} is changing leadership; retry shortly`);
    if (leader.apiAddress === null) return unavailable(`manager ${self} does not lead; the leader is ${leader.id}, whose API address ${self} does not know; send the request to it`);
    if (this.forwardsInFlight >= this.limits.maxForwardsInFlight) {
      const message = `manager ${self} is relaying ${this.forwardsInFlight} calls to the leader (the bound); retry after ${defaultRetryAfterMs} ms or send the request to the leader ${leader.id} at ${leader.apiAddress}`;
      return this.fail({ code: grpc.status.RESOURCE_EXHAUSTED, message, retryAfterMs: defaultRetryAfterMs, leader });
    }
    this.forwardsInFlight++;
    try {
      return await this.relay(method, call, leader as ManagerAddress & { apiAddress: string });
    } finally {
      this.forwardsInFlight--;
    }
  }

  private async relay(method: UnaryMethod, call: Incoming, leader: ManagerAddress & { apiAddress: string }): Promise<Answer> {
    const self = this.manager.id;
    const where = `the leader ${leader.id} at ${leader.apiAddress}`;
    const client = this.pool.get(leader.apiAddress);
    const notConnected = await connect(client, this.limits.forwardConnectTimeoutMs);
    if (notConnected !== null) {
      this.pool.drop(leader.apiAddress);
      this.counts.forwardFailures++;
      return this.fail({ code: grpc.status.UNAVAILABLE, outcome: 'not-applied', leader, message: `manager ${self} does not lead and could not reach ${where} (${notConnected}); retry shortly` });
    }
    const timeoutMs = Math.max(1, Math.min(call.deadlineMs - Date.now(), this.limits.forwardTimeoutMs));
    const result = await this.relays.send(leader.apiAddress, client, method, call.request, timeoutMs);
    this.counts.forwarded++;
    if (result.ok || metadataValue(result.status.metadata, METADATA_SERVED_BY) !== null) return result;
    this.counts.forwardFailures++;
    const code = result.status.code ?? grpc.status.UNKNOWN;
    const failure = `${statusName(code)}: ${result.status.details}`;
    if (apiMethods[method] === 'read') {
      return this.fail({ code: grpc.status.UNAVAILABLE, outcome: 'not-applied', leader, message: `manager ${self} relayed ${method} to ${where} and the call failed (${failure}); retry` });
    }
    return this.fail({
      code: code === grpc.status.DEADLINE_EXCEEDED ? grpc.status.DEADLINE_EXCEEDED : grpc.status.UNAVAILABLE,
      outcome: 'unknown',
      leader,
      message: `outcome unknown; the request may have been applied; check before retrying (manager ${self} relayed ${method} to ${where} and the call failed: ${failure})`,
    });
  }

  private events(call: grpc.ServerWritableStream<Buffer, Buffer>): void {
    const self = this.manager.id;
    const refuse = (failure: ApiFailure): void => void call.emit('error', toStatus(failure, self));
    const parsed = parseEventsRequest(call.request, this.limits);
    if (!parsed.ok) return refuse(parsed.failure);
    if (this.closing !== null) return refuse({ code: grpc.status.UNAVAILABLE, outcome: 'not-applied', message: `manager ${self} is shutting down; subscribe to another manager` });
    if (this.subscribers.size >= this.limits.maxSubscribers) {
      return refuse({ code: grpc.status.RESOURCE_EXHAUSTED, message: `manager ${self} already serves ${this.subscribers.size} event subscribers (the bound maxSubscribers); subscribe to another manager`, retryAfterMs: 1000 });
    }
    let unsubscribe: (() => void) | null = null;
    const types = parsed.value.types === undefined ? null : new Set(parsed.value.types);
    const subscriber = new EventSubscriber(call, self, types, this.limits, (cause) => {
      unsubscribe?.();
      this.subscribers.delete(subscriber);
      if (cause !== 'cut-off') return;
      this.counts.subscribersCutOff++;
      this.logger.warn({ node: self, peer: call.getPeer(), maxBufferedEvents: this.limits.maxBufferedEvents }, 'event subscriber too slow; cut off');
    });
    this.subscribers.add(subscriber);
    const headers = new grpc.Metadata();
    headers.set(METADATA_SERVED_BY, self);
    headers.set(METADATA_APPLIED_INDEX, String(this.manager.appliedIndex()));
    call.sendMetadata(headers);
    unsubscribe = this.manager.subscribe((applied) => subscriber.push(applied));
    if (subscriber.isEnded) unsubscribe();
  }
}
