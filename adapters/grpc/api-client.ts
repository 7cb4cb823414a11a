// The client of the client API, for the CLI and for tests: promise-based, one method per API method,
// given the API addresses of several managers. A call goes to the manager that last answered, then
// to the others in order, moving on only when the attempt certainly did not take effect:
// - the manager could not be reached (the call never left: connecting is a separate first step);
// - a manager answered UNAVAILABLE with outcome not-applied (no leader, leader unreachable, ...);
// - for reads, any UNAVAILABLE or failure of the transport (a read changes nothing).
// A write that failed once it was sent, without an answer from a server, and a write a server
// reports with outcome unknown, are never retried: the ApiError says the outcome is unknown, and
// the caller must look before trying again. Every other status is the answer and is thrown as is.
// Calls go over one Calls stream per manager (CallSender, api-calls.ts), which costs both ends far
// less CPU than a gRPC call each; what a failure means is the same.

import * as grpc from '@grpc/grpc-js';
import { CallSender } from './api-calls.ts';
import { apiChannelOptions, ChannelPool, connect } from './api-channel.ts';
import { ApiError } from './api-errors.ts';
import { apiMethods, encodeJson, EVENTS_METHOD, METADATA_APPLIED_INDEX, METADATA_SERVED_BY, metadataValue, methodPath } from './api-service.ts';
import type { ApiEvent, ApiRequest, ApiResponse, ApiUnaryCalls, EventsRequest, UnaryMethod } from './api-types.ts';

export interface ApiClientOptions {
  /** API addresses of managers (host:port or unix:/path), in order of preference. */
  readonly addresses: readonly string[];
  /** Defaults to insecure; remote managers take mutual TLS. */
  readonly credentials?: grpc.ChannelCredentials;
  /** Bound on one attempt of a call, after connecting. */
  readonly timeoutMs?: number;
  /** Bound on connecting to one manager before moving to the next. */
  readonly connectTimeoutMs?: number;
  readonly maxResponseBytes?: number;
}

/** Bound on the addresses a client is given (every manager of a cluster fits well within it). */
const maxAddresses = 16;

export class ApiClient {
  private readonly addresses: readonly string[];
  private readonly pool: ChannelPool;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  /** The address that last answered: tried first. */
  private preferred: string;
  private readonly sender = new CallSender();

  constructor(options: ApiClientOptions) {
    if (options.addresses.length === 0 || options.addresses.length > maxAddresses) {
      throw new RangeError(`an API client needs 1 to ${maxAddresses} manager addresses, got ${options.addresses.length}`);
    }
    this.addresses = [...options.addresses];
    this.preferred = this.addresses[0]!;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 2000;
    const channelOptions = apiChannelOptions(options.maxResponseBytes ?? 64 * 1024 * 1024);
    this.pool = new ChannelPool(options.credentials ?? grpc.credentials.createInsecure(), channelOptions, maxAddresses);
  }

  close(): void {
    this.sender.close();
    this.pool.closeAll();
  }

  private order(): string[] {
    return [this.preferred, ...this.addresses.filter((a) => a !== this.preferred)];
  }

  /** Any unary method by name. */
  async call<M extends UnaryMethod>(method: M, request: ApiRequest<M>): Promise<ApiResponse<M>> {
    const isWrite = apiMethods[method] === 'write';
    const body = encodeJson(request);
    const failures: ApiError[] = [];
    for (const address of this.order()) {
      const client = this.pool.get(address);
      const connecting = connect(client, this.connectTimeoutMs);
      const notConnected = connecting === null ? null : await connecting;
      if (notConnected !== null) {
        this.pool.drop(address);
        failures.push(new ApiError(grpc.status.UNAVAILABLE, `could not reach ${address}: ${notConnected}`, null, 'not-applied', null, null, address));
        continue;
      }
      const result = await this.sender.send(address, client, method, body, this.timeoutMs);
      if (result.ok) {
        this.preferred = address;
        return decode(result.body, method, address) as ApiResponse<M>;
      }
      const error = ApiError.fromStatus(result.status, address);
      if (error.servedBy === null && isWrite) throw unknownOutcome(error, method);
      // A read moves on after any failure of the transport too (it changes nothing).
      const moveOn = isWrite ? error.code === grpc.status.UNAVAILABLE && error.outcome === 'not-applied' : error.code === grpc.status.UNAVAILABLE || error.servedBy === null;
      if (!moveOn) throw error;
      failures.push(error);
    }
    const last = failures[failures.length - 1]!;
    if (failures.length === 1) throw last;
    const tried = failures.map((f) => `${f.address}: ${f.message}`).join('; ');
    throw new ApiError(grpc.status.UNAVAILABLE, `no manager could serve ${method} (${tried})`, last.servedBy, 'not-applied', null, last.leader, last.address);
  }

  /** Follows the cluster's changes from now on, from the first manager that accepts. */
  async events(request: EventsRequest = {}): Promise<EventStream> {
    const failures: string[] = [];
    for (const address of this.order()) {
      const client = this.pool.get(address);
      const notConnected = await connect(client, this.connectTimeoutMs);
      if (notConnected !== null) {
        this.pool.drop(address);
        failures.push(`${address}: ${notConnected}`);
        continue;
      }
      const call = client.makeServerStreamRequest(methodPath(EVENTS_METHOD), (b: Buffer) => b, (b: Buffer) => JSON.parse(b.toString('utf8')) as ApiEvent, encodeJson(request), new grpc.Metadata(), {});
      try {
        const headers = await started(call);
        this.preferred = address;
        return new EventStream(call, address, metadataValue(headers, METADATA_SERVED_BY)!, Number(metadataValue(headers, METADATA_APPLIED_INDEX)));
      } catch (error) {
        const failure = ApiError.fromStatus(error as grpc.ServiceError, address);
        if (failure.code !== grpc.status.UNAVAILABLE) throw failure;
        failures.push(`${address}: ${failure.message}`);
      }
    }
    throw new ApiError(grpc.status.UNAVAILABLE, `no manager could serve Events (${failures.join('; ')})`, null, 'not-applied', null, null, this.preferred);
  }

  clusterInfo = (r: ApiRequest<'ClusterInfo'> = {}) => this.call('ClusterInfo', r);
  nodeList = (r: ApiRequest<'NodeList'> = {}) => this.call('NodeList', r);
  nodeInspect = (r: ApiRequest<'NodeInspect'>) => this.call('NodeInspect', r);
  nodeUpdate = (r: ApiRequest<'NodeUpdate'>) => this.call('NodeUpdate', r);
  nodeRemove = (r: ApiRequest<'NodeRemove'>) => this.call('NodeRemove', r);
  serviceCreate = (r: ApiRequest<'ServiceCreate'>) => this.call('ServiceCreate', r);
  serviceList = (r: ApiRequest<'ServiceList'> = {}) => this.call('ServiceList', r);
  serviceInspect = (r: ApiRequest<'ServiceInspect'>) => this.call('ServiceInspect', r);
  serviceUpdate = (r: ApiRequest<'ServiceUpdate'>) => this.call('ServiceUpdate', r);
  serviceRollback = (r: ApiRequest<'ServiceRollback'>) => this.call('ServiceRollback', r);
  serviceScale = (r: ApiRequest<'ServiceScale'>) => this.call('ServiceScale', r);
  serviceRemove = (r: ApiRequest<'ServiceRemove'>) => this.call('ServiceRemove', r);
  taskList = (r: ApiRequest<'TaskList'> = {}) => this.call('TaskList', r);
  taskInspect = (r: ApiRequest<'TaskInspect'>) => this.call('TaskInspect', r);
  secretCreate = (r: ApiRequest<'SecretCreate'>) => this.call('SecretCreate', r);
  secretList = (r: ApiRequest<'SecretList'> = {}) => this.call('SecretList', r);
  secretInspect = (r: ApiRequest<'SecretInspect'>) => this.call('SecretInspect', r);
  secretRemove = (r: ApiRequest<'SecretRemove'>) => this.call('SecretRemove', r);
  volumeCreate = (r: ApiRequest<'VolumeCreate'>) => this.call('VolumeCreate', r);
  volumeList = (r: ApiRequest<'VolumeList'> = {}) => this.call('VolumeList', r);
  volumeInspect = (r: ApiRequest<'VolumeInspect'>) => this.call('VolumeInspect', r);
  volumeRemove = (r: ApiRequest<'VolumeRemove'>) => this.call('VolumeRemove', r);
  managerRemove = (r: ApiRequest<'ManagerRemove'>) => this.call('ManagerRemove', r);
}

function decode(body: Buffer, method: keyof ApiUnaryCalls, address: string): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new ApiError(grpc.status.INTERNAL, `${method}: the answer of ${address} is not valid JSON (${(error as Error).message})`, null, null, null, null, address);
  }
}

function unknownOutcome(error: ApiError, method: string): ApiError {
  const message = `outcome unknown; the request may have been applied; check before retrying (${method} was sent to ${error.address} and the call failed without an answer: ${error.codeName}: ${error.message})`;
  return new ApiError(error.code, message, null, 'unknown', null, null, error.address);
}

/** Resolves with the stream's headers once the server accepted it; rejects with its status if refused. */
function started(call: grpc.ClientReadableStream<ApiEvent>): Promise<grpc.Metadata> {
  return new Promise((resolve, reject) => {
    const onError = (error: grpc.ServiceError): void => {
      call.off('metadata', onMetadata);
      reject(error);
    };
    const onMetadata = (headers: grpc.Metadata): void => {
      if (metadataValue(headers, METADATA_SERVED_BY) === null) return; // a refusal's headers: its status follows
      call.off('error', onError);
      resolve(headers);
    };
    call.on('metadata', onMetadata);
    call.once('error', onError);
  });
}

/** An Events subscription: iterate it for events; close() ends it. */
export class EventStream implements AsyncIterable<ApiEvent> {
  private closed = false;
  /** The status that ended the stream, kept even when nobody was iterating when it came. */
  private failure: grpc.ServiceError | null = null;

  constructor(
    private readonly call: grpc.ClientReadableStream<ApiEvent>,
    readonly address: string,
    /** The manager serving the stream. */
    readonly servedBy: string,
    /** Its applied index when the stream started: every event has a greater index. */
    readonly startIndex: number,
  ) {
    call.on('error', (error: grpc.ServiceError) => (this.failure ??= error));
    // Start reading into the stream's bounded buffer now: grpc-js holds back the connection (HTTP/2
    // flow control) only once reading started, and would otherwise buffer a whole backlog in memory.
    call.read(0);
  }

  /** Events in index order; ends when closed, throws an ApiError once the events sent before the server ended the stream are read. */
  async *[Symbol.asyncIterator](): AsyncIterator<ApiEvent> {
    try {
      for await (const event of this.call) yield event as ApiEvent;
    } catch (error) {
      if (this.closed) return;
      throw ApiError.fromStatus(error as grpc.ServiceError, this.address);
    }
    if (this.failure !== null && !this.closed) throw ApiError.fromStatus(this.failure, this.address);
  }

  close(): void {
    this.closed = true;
    this.call.cancel();
  }
}
