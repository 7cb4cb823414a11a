// The gRPC service that carries Raft between managers, defined by hand (no .proto, no proto-loader):
//
//   service warren.raft.v1.Raft { rpc Stream(stream Frame) returns (Empty); }
//
// A sender opens one long-lived client-streaming call per peer; each request message is a frame of
// raft-codec.ts (the serializers are the identity: frames are encoded before they are queued). The
// response is empty and only ends the call; refusals and failures travel as the gRPC status.
// The call's metadata names who is talking to whom, and the receiver checks it before reading:
//   warren-cluster-id   the sender's cluster id      -> FAILED_PRECONDITION when it is not ours
//   warren-from-node    the sender's node id
//   warren-to-node      the node id the sender believes it reached -> FAILED_PRECONDITION when it is
//                       not ours (the sender's address for that node points at the wrong daemon)
//   warren-raft-wire    the sender's wire format version -> FAILED_PRECONDITION when unsupported
// An accepted stream is acknowledged at once with (empty) response headers, which is how the sender
// learns the stream is up before any frame has gone through.
// Other services (the worker protocol, the client API) sit beside this one on the same server,
// each under its own service name.

import * as grpc from '@grpc/grpc-js';
import type { NodeId } from '../../core/raft/index.ts';
import { RAFT_WIRE_VERSION } from './raft-codec.ts';

export const RAFT_SERVICE_NAME = 'warren.raft.v1.Raft';
export const RAFT_STREAM_PATH = `/${RAFT_SERVICE_NAME}/Stream`;

export const METADATA_CLUSTER_ID = 'warren-cluster-id';
export const METADATA_FROM_NODE = 'warren-from-node';
export const METADATA_TO_NODE = 'warren-to-node';
export const METADATA_WIRE_VERSION = 'warren-raft-wire';

const identity = (bytes: Buffer): Buffer => bytes;
const emptyResponse = Buffer.alloc(0);

/** The empty response. Not null: grpc-js takes a null response as "no message received". */
export type RaftAck = Readonly<Record<string, never>>;
export const raftAck: RaftAck = Object.freeze({});

export const raftServiceDefinition = {
  Stream: {
    path: RAFT_STREAM_PATH,
    requestStream: true,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: (_: RaftAck): Buffer => emptyResponse,
    responseDeserialize: (_: Buffer): RaftAck => raftAck,
    originalName: 'stream',
  },
} satisfies grpc.ServiceDefinition;

export interface StreamIdentity {
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
}

export function streamMetadata(identity: StreamIdentity): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set(METADATA_CLUSTER_ID, identity.clusterId);
  metadata.set(METADATA_FROM_NODE, identity.from);
  metadata.set(METADATA_TO_NODE, identity.to);
  metadata.set(METADATA_WIRE_VERSION, String(RAFT_WIRE_VERSION));
  return metadata;
}

export type StreamCheck =
  | { readonly ok: true; readonly from: NodeId }
  | { readonly ok: false; readonly code: grpc.status; readonly reason: 'bad-metadata' | 'wrong-cluster' | 'wrong-node' | 'wire-version'; readonly message: string };

function single(metadata: grpc.Metadata, key: string): string | null {
  const values = metadata.get(key);
  return values.length === 1 && typeof values[0] === 'string' ? values[0] : null;
}

/** Decides whether this node (`self` of cluster `clusterId`) accepts a stream opened with `metadata`. */
export function checkStream(metadata: grpc.Metadata, clusterId: string, self: NodeId): StreamCheck {
  const theirCluster = single(metadata, METADATA_CLUSTER_ID);
  const from = single(metadata, METADATA_FROM_NODE);
  const to = single(metadata, METADATA_TO_NODE);
  const wire = single(metadata, METADATA_WIRE_VERSION);
  if (theirCluster === null || from === null || to === null || wire === null) {
    const missing = [METADATA_CLUSTER_ID, METADATA_FROM_NODE, METADATA_TO_NODE, METADATA_WIRE_VERSION].filter((key) => single(metadata, key) === null);
    return { ok: false, code: grpc.status.INVALID_ARGUMENT, reason: 'bad-metadata', message: `raft stream to node ${self} lacks metadata ${missing.join(', ')} (each exactly once)` };
  }
  if (theirCluster !== clusterId) {
    return {
      ok: false,
      code: grpc.status.FAILED_PRECONDITION,
      reason: 'wrong-cluster',
      message: `cluster id mismatch: node ${self} of cluster ${clusterId} refuses node ${from} of cluster ${theirCluster}; a node joins exactly one cluster`,
    };
  }
  if (to !== self) {
    return {
      ok: false,
      code: grpc.status.FAILED_PRECONDITION,
      reason: 'wrong-node',
      message: `node ${from} addressed node ${to} but reached node ${self}: node ${from}'s address for ${to} points at ${self}`,
    };
  }
  if (wire !== String(RAFT_WIRE_VERSION)) {
    return { ok: false, code: grpc.status.FAILED_PRECONDITION, reason: 'wire-version', message: `node ${from} speaks raft wire version ${wire}; node ${self} speaks ${RAFT_WIRE_VERSION}` };
  }
  return { ok: true, from: from as NodeId };
}
