// Binding and shutting down a gRPC server, shared by the Raft transport, the client API and the
// manager daemon's one shared server: bindAsync as a promise, and a graceful shutdown bounded in time
// (tryShutdown lets calls in flight finish; past the bound, forceShutdown cancels them).

import * as grpc from '@grpc/grpc-js';

/** Binds `server` on `address` (port 0: the OS chooses); resolves to the bound port. */
export function bindServer(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port)));
  });
}

/** Shuts `server` down, letting calls in flight finish for at most `timeoutMs`, then cancelling them. */
export function shutdownServer(server: grpc.Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, timeoutMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
