// Outgoing calls of the client API, shared by the client (api-client.ts) and by a follower relaying
// a call to its leader (api-server.ts): a bounded pool of channels by address, a connect step that
// fails fast, and a unary call on raw bytes.
// Connecting first is what lets a caller state a write's outcome: a call that could not connect
// was certainly never received (retry it elsewhere), while a call that fails once connected may
// have been received and applied. A channel that failed to connect is dropped, so the next
// attempt starts afresh rather than waiting out the channel's reconnect backoff.

import * as grpc from '@grpc/grpc-js';
import { methodPath } from './api-service.ts';
import { leanGrpcOptions } from './options.ts';

const identity = (bytes: Buffer): Buffer => bytes;

export class ChannelPool {
  private readonly clients = new Map<string, grpc.Client>();

  constructor(
    private readonly credentials: grpc.ChannelCredentials,
    private readonly options: grpc.ChannelOptions,
    /** Bound on open channels; the least recently opened one is closed to make room. */
    private readonly maxChannels: number,
  ) {}

  get(address: string): grpc.Client {
    const existing = this.clients.get(address);
    if (existing !== undefined) return existing;
    if (this.clients.size >= this.maxChannels) this.drop(this.clients.keys().next().value!);
    const client = new grpc.Client(address, this.credentials, this.options);
    this.clients.set(address, client);
    return client;
  }

  drop(address: string): void {
    this.clients.get(address)?.close();
    this.clients.delete(address);
  }

  closeAll(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

/**
 * Waits until `client`'s channel is ready: null, or why it is not (a failed attempt ends the wait at
 * once). A channel that is ready already answers at once, without a promise to wait for.
 */
export function connect(client: grpc.Client, timeoutMs: number): Promise<string | null> | null {
  const channel = client.getChannel();
  if (channel.getConnectivityState(false) === grpc.connectivityState.READY) return null;
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = (): void => {
      const state = channel.getConnectivityState(true);
      if (state === grpc.connectivityState.READY) return resolve(null);
      if (state === grpc.connectivityState.TRANSIENT_FAILURE) return resolve('the connection attempt failed');
      if (state === grpc.connectivityState.SHUTDOWN) return resolve('the channel is closed');
      if (Date.now() >= deadline) return resolve(`no connection within ${timeoutMs} ms`);
      channel.watchConnectivityState(state, deadline, (error) => (error ? resolve(`no connection within ${timeoutMs} ms`) : check()));
    };
    check();
  });
}

export type UnaryResult = { readonly ok: true; readonly body: Buffer } | { readonly ok: false; readonly error: grpc.ServiceError };

/** One unary call of `method` with a raw body; never rejects. */
export function callUnary(client: grpc.Client, method: string, body: Buffer, metadata: grpc.Metadata, deadline: number): Promise<UnaryResult> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(methodPath(method), identity, identity, body, metadata, { deadline }, (error, response) => {
      if (error) resolve({ ok: false, error });
      else resolve({ ok: true, body: response ?? Buffer.alloc(0) });
    });
  });
}

/**
 * Channel options of API calls: responses may be large lists; gRPC's own retries are off, since a
 * caller decides itself which failed calls may be tried again (api-client.ts).
 */
export const apiChannelOptions = (maxResponseBytes: number): grpc.ChannelOptions => ({
  ...leanGrpcOptions,
  'grpc.enable_retries': 0,
  'grpc.max_receive_message_length': maxResponseBytes,
  'grpc.max_send_message_length': maxResponseBytes,
});
