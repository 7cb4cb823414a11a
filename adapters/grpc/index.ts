// The public surface of the gRPC adapter. For now: the Raft transport between managers. The worker
// protocol and the client API will be exported from here beside it.

export { RaftTransport } from './raft-transport.ts';
export type { RaftTransportStats } from './raft-transport.ts';
export { defaultLimits, silentLogger } from './options.ts';
export type { RaftTransportLimits, RaftTransportOptions, TransportLogger } from './options.ts';
export type { DropCause, PeerState, PeerStats } from './peer-link.ts';
export type { InboundPeerStats, InboundStats, RefusalReason } from './inbound.ts';
export { decodeFrame, encodeFrame, encodeMessage, RAFT_WIRE_VERSION } from './raft-codec.ts';
export { RAFT_SERVICE_NAME, raftServiceDefinition } from './raft-service.ts';

// The client API (service warren.api.v1.Cluster): server, client, contract.
export { ApiServer, defaultApiServerLimits } from './api-server.ts';
export type { ApiManager, ApiServerLimits, ApiServerOptions, ApiServerStats } from './api-server.ts';
export { ApiClient, EventStream } from './api-client.ts';
export type { ApiClientOptions } from './api-client.ts';
export { ApiError } from './api-errors.ts';
export type { AppliedCommand } from './api-events.ts';
export { SecretSealer, SecretOpenError, SECRET_KEY_BYTES } from './api-secrets.ts';
export { defaultServiceSpec } from './api-requests.ts';
export { API_SERVICE_NAME, apiMethods, apiServiceDefinition } from './api-service.ts';
export type * from './api-types.ts';
