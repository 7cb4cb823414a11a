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
