// The client API as a gRPC service, defined by hand like the Raft service (no .proto, no
// proto-loader):
//
//   service warren.api.v1.Cluster {
//     rpc ClusterInfo(Json) returns (Json);      ... one unary rpc per method of apiMethods ...
//     rpc Events(Json) returns (stream Json);
//     rpc Calls(stream Frame) returns (stream Frame);  any unary method, many calls per stream (api-calls.ts)
//   }
//
// Payloads are JSON documents (UTF-8), one per gRPC message; their shapes are in api-types.ts. The
// definition moves raw bytes (identity serializers): the server parses requests itself so that
// malformed JSON is an INVALID_ARGUMENT naming the method, not a transport error, and a follower
// relays a write to the leader byte for byte. The client encodes and decodes JSON itself.
//
// Metadata:
//   request   warren-forwarded-by   set by a manager relaying a call to the leader; the leader never
//                                   forwards such a call again (one hop, no loops)
//   trailers  warren-served-by      on every status a Warren server itself produced (not set when
//                                   the transport failed), so a client tells the two apart
//             warren-outcome        on UNAVAILABLE: not-applied (safe to retry elsewhere) or unknown
//                                   (the write may have been applied: check before retrying)
//             retry-after-ms        on RESOURCE_EXHAUSTED (overload): when to retry
//             warren-leader, warren-leader-address   the leader, when known, on UNAVAILABLE
//   headers   warren-served-by, warren-applied-index  at the start of an Events stream: where it
//                                   starts (the first event has a greater index)

import * as grpc from '@grpc/grpc-js';
import type { UnaryMethod } from './api-types.ts';

export const API_SERVICE_NAME = 'warren.api.v1.Cluster';

export const METADATA_FORWARDED_BY = 'warren-forwarded-by';
export const METADATA_SERVED_BY = 'warren-served-by';
export const METADATA_OUTCOME = 'warren-outcome';
export const METADATA_RETRY_AFTER_MS = 'retry-after-ms';
export const METADATA_LEADER = 'warren-leader';
export const METADATA_LEADER_ADDRESS = 'warren-leader-address';
export const METADATA_APPLIED_INDEX = 'warren-applied-index';

/** What a failed call did: certainly nothing, or maybe something (a write's fate is not known). */
export type CallOutcome = 'not-applied' | 'unknown';

/** Reads are served from the local store; writes go through Raft on the leader. */
export type MethodKind = 'read' | 'write';

export const apiMethods = {
  ClusterInfo: 'read',
  NodeList: 'read',
  NodeInspect: 'read',
  NodeUpdate: 'write',
  NodeRemove: 'write',
  ServiceCreate: 'write',
  ServiceList: 'read',
  ServiceInspect: 'read',
  ServiceUpdate: 'write',
  ServiceRollback: 'write',
  ServiceScale: 'write',
  ServiceRemove: 'write',
  TaskList: 'read',
  TaskInspect: 'read',
  SecretCreate: 'write',
  SecretList: 'read',
  SecretInspect: 'read',
  SecretRemove: 'write',
  VolumeCreate: 'write',
  VolumeList: 'read',
  VolumeInspect: 'read',
  VolumeRemove: 'write',
  ManagerJoin: 'write',
  ManagerRemove: 'write',
} as const satisfies Record<UnaryMethod, MethodKind>;

// Compile-time proof that the table names every method of the contract.
type Unlisted = Exclude<UnaryMethod, keyof typeof apiMethods>;
const everyMethodListed: Unlisted extends never ? true : Unlisted = true;
void everyMethodListed;

export const unaryMethods = Object.keys(apiMethods).sort() as UnaryMethod[];
export const EVENTS_METHOD = 'Events';
export const CALLS_METHOD = 'Calls';

export const methodPath = (method: string): string => `/${API_SERVICE_NAME}/${method}`;

const identity = (bytes: Buffer): Buffer => bytes;

function unaryDefinition(method: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path: methodPath(method),
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    originalName: method,
  };
}

/** The service definition: every method carries raw JSON bytes each way. */
export const apiServiceDefinition: grpc.ServiceDefinition = Object.fromEntries([
  ...unaryMethods.map((method) => [method, unaryDefinition(method)] as const),
  [EVENTS_METHOD, { ...unaryDefinition(EVENTS_METHOD), responseStream: true }],
  [CALLS_METHOD, { ...unaryDefinition(CALLS_METHOD), requestStream: true, responseStream: true }],
]);

export const encodeJson = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');

/** The text of a status code (INVALID_ARGUMENT, ...), for messages and errors. */
export const statusName = (code: grpc.status): string => grpc.status[code] ?? `status ${code}`;

/** The single value of a metadata key, or null. */
export function metadataValue(metadata: grpc.Metadata | null | undefined, key: string): string | null {
  const values = metadata?.get(key) ?? [];
  return values.length > 0 && typeof values[0] === 'string' ? values[0] : null;
}
