// The configuration of a RaftTransport: one typed object with defaults, validated once when the
// transport is built. Every queue, frame and wait has a named bound here.

import * as grpc from '@grpc/grpc-js';
import type { NodeId } from '../../core/raft/index.ts';

/** Structured logging as pino's Logger provides it (a pino logger can be passed as is). */
export interface TransportLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export const silentLogger: TransportLogger = { info: () => {}, warn: () => {}, error: () => {} };

export interface RaftTransportLimits {
  /** Bound on messages waiting for one peer; beyond it the oldest non-snapshot ones are dropped. */
  readonly maxQueueMessages: number;
  /** Bound on the encoded bytes waiting for one peer. */
  readonly maxQueueBytes: number;
  /** Bound on one frame (one gRPC message). A message that cannot fit in a frame is dropped. Every
   * manager must accept the frames the others send, so keep it equal across the cluster. */
  readonly maxFrameBytes: number;
  /** Reconnect backoff: the first retry waits about backoffMinMs, doubling up to backoffMaxMs. */
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  /** A stream not accepted by the peer within this is abandoned and retried (a peer that hangs). */
  readonly connectTimeoutMs: number;
  /** HTTP/2 keepalive pings on idle connections, to notice a peer that vanished without a FIN. */
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  /** How long close() waits for streams to end cleanly before cancelling them. */
  readonly closeTimeoutMs: number;
}

export const defaultLimits: RaftTransportLimits = {
  maxQueueMessages: 4096,
  maxQueueBytes: 16 * 1024 * 1024,
  maxFrameBytes: 4 * 1024 * 1024,
  backoffMinMs: 50,
  backoffMaxMs: 2000,
  connectTimeoutMs: 5000,
  keepaliveTimeMs: 10_000,
  keepaliveTimeoutMs: 5000,
  closeTimeoutMs: 1000,
};

export interface RaftTransportOptions extends Partial<RaftTransportLimits> {
  readonly id: NodeId;
  /** Streams from a node of another cluster are refused. */
  readonly clusterId: string;
  /** host:port to serve on; port 0 lets the OS choose (start() returns the port). */
  readonly listen: string;
  /** Peer node id -> host:port. Our own id, if present, is ignored. */
  readonly peers: ReadonlyMap<NodeId, string>;
  /** Defaults to insecure; the daemon passes mutual TLS from the cluster CA. */
  readonly serverCredentials?: grpc.ServerCredentials;
  readonly channelCredentials?: grpc.ChannelCredentials;
  /** The jitter source of reconnect backoff, a float in [0, 1). */
  readonly random?: () => number;
  readonly logger?: TransportLogger;
  /**
   * A gRPC server shared with the manager's other services (one port for Raft, workers and the
   * client API): the transport adds its service to it, and its owner binds it and shuts it down.
   * Its options must admit frames of maxFrameBytes (serverOptions() gives them).
   */
  readonly server?: grpc.Server;
}

export interface ResolvedOptions extends RaftTransportLimits {
  readonly id: NodeId;
  readonly clusterId: string;
  readonly listen: string;
  readonly serverCredentials: grpc.ServerCredentials;
  readonly channelCredentials: grpc.ChannelCredentials;
  readonly random: () => number;
  readonly logger: TransportLogger;
}

/** Room kept in a frame for its header (version byte and message count varint). */
export const FRAME_HEADER_MAX_BYTES = 16;
const MIN_FRAME_BYTES = 1024;

/** Each limit of `defaults`, taken from `given` when set there, checked to be a positive integer; `owner` names it in errors. */
export function positiveIntegerLimits<T extends object>(defaults: T, given: Partial<T>, owner: string): T {
  const limits: Record<string, number> = {};
  for (const key of Object.keys(defaults) as (keyof T & string)[]) {
    const value = given[key] ?? defaults[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${owner} ${key} must be a positive integer, got ${String(value)}`);
    limits[key] = value;
  }
  return limits as T;
}

export function resolveOptions(options: RaftTransportOptions): ResolvedOptions {
  const limits = positiveIntegerLimits(defaultLimits, options, 'raft transport');
  if (limits.maxFrameBytes < MIN_FRAME_BYTES) throw new RangeError(`raft transport maxFrameBytes must be at least ${MIN_FRAME_BYTES}, got ${limits.maxFrameBytes}`);
  if (limits.maxQueueBytes < limits.maxFrameBytes) {
    throw new RangeError(`raft transport maxQueueBytes (${limits.maxQueueBytes}) must be at least maxFrameBytes (${limits.maxFrameBytes}) so any sendable message can be queued`);
  }
  if (limits.backoffMaxMs < limits.backoffMinMs) throw new RangeError(`raft transport backoffMaxMs (${limits.backoffMaxMs}) is below backoffMinMs (${limits.backoffMinMs})`);
  if (options.clusterId === '') throw new RangeError('raft transport clusterId must not be empty');
  if (options.id === '') throw new RangeError('raft transport id must not be empty');
  return {
    ...limits,
    id: options.id,
    clusterId: options.clusterId,
    listen: options.listen,
    serverCredentials: options.serverCredentials ?? grpc.ServerCredentials.createInsecure(),
    channelCredentials: options.channelCredentials ?? grpc.credentials.createInsecure(),
    random: options.random ?? Math.random,
    logger: options.logger ?? silentLogger,
  };
}

/**
 * Options every Warren channel and server takes: channelz (gRPC's introspection service, which
 * Warren does not serve) off, since tracking it costs a few percent of a busy manager's CPU.
 */
export const leanGrpcOptions = { 'grpc.enable_channelz': 0 } as const;

/** Channel options of the client to one peer. */
export function channelOptions(o: ResolvedOptions): grpc.ChannelOptions {
  return {
    ...leanGrpcOptions,
    // The transport retries itself (with its queue and backoff); gRPC's retry layer would buffer
    // writes and acknowledge them early, which defeats backpressure.
    'grpc.enable_retries': 0,
    // Each peer's channel owns its connection, so closing the transport closes it.
    'grpc.use_local_subchannel_pool': 1,
    'grpc.initial_reconnect_backoff_ms': o.backoffMinMs,
    'grpc.max_reconnect_backoff_ms': o.backoffMaxMs,
    'grpc.keepalive_time_ms': o.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': o.keepaliveTimeoutMs,
    'grpc.max_send_message_length': o.maxFrameBytes,
  };
}

export function serverOptions(o: ResolvedOptions): grpc.ServerOptions {
  return {
    ...leanGrpcOptions,
    'grpc.max_receive_message_length': o.maxFrameBytes,
    'grpc.keepalive_time_ms': o.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': o.keepaliveTimeoutMs,
  };
}
