// The worker protocol over gRPC, defined by hand like the Raft service:
//
//   service warren.worker.v1.Worker { rpc Heartbeat(WorkerHeartbeat) returns (ManagerMessage); }
//
// Payloads are the JSON of core/manager/worker-protocol.ts's messages: a worker's heartbeat (its
// registration and the task reports the store does not show yet) and the manager's answer (the
// node's assignments, or a redirect to the leader). The call's metadata carries the cluster id; a
// worker of another cluster is refused with FAILED_PRECONDITION. A malformed heartbeat is refused
// with INVALID_ARGUMENT naming what is wrong.

import * as grpc from '@grpc/grpc-js';
import type { ManagerMessage, WorkerHeartbeat } from '../../core/manager/worker-protocol.ts';

export const WORKER_SERVICE_NAME = 'warren.worker.v1.Worker';
const METADATA_CLUSTER_ID = 'warren-cluster-id';

const toJson = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const fromJson = (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8'));

export const workerServiceDefinition = {
  Heartbeat: {
    path: `/${WORKER_SERVICE_NAME}/Heartbeat`,
    requestStream: false,
    responseStream: false,
    requestSerialize: toJson,
    requestDeserialize: fromJson,
    responseSerialize: toJson,
    responseDeserialize: (bytes: Buffer) => fromJson(bytes) as ManagerMessage,
    originalName: 'heartbeat',
  },
} satisfies grpc.ServiceDefinition;

/** Why a decoded heartbeat is not one, or null when it is. */
export function heartbeatProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'the heartbeat must be a JSON object';
  const h = value as Record<string, unknown>;
  if (h.type !== 'worker-heartbeat') return 'field "type" must be "worker-heartbeat"';
  if (typeof h.node !== 'string' || h.node === '') return 'field "node" must be the worker\'s node id';
  for (const key of ['incarnation', 'seq'] as const) {
    if (!Number.isSafeInteger(h[key]) || (h[key] as number) < 0) return `field "${key}" must be an integer 0 or greater`;
  }
  if (!Array.isArray(h.reports)) return 'field "reports" must be an array';
  const r = h.registration as Record<string, unknown> | null;
  if (typeof r !== 'object' || r === null || typeof r.name !== 'string' || typeof r.address !== 'string' || typeof r.resources !== 'object' || typeof r.labels !== 'object') {
    return 'field "registration" must be {name, address, resources, labels}';
  }
  if (r.role !== undefined && r.role !== 'worker' && r.role !== 'hybrid') return 'field "registration.role" must be "worker" or "hybrid"';
  return null;
}

/** Serves heartbeats on `server` with `handle` (the manager's endpoint). */
export function addWorkerService(server: grpc.Server, clusterId: string, handle: (heartbeat: WorkerHeartbeat) => ManagerMessage): void {
  server.addService(workerServiceDefinition, {
    Heartbeat: (call: grpc.ServerUnaryCall<unknown, ManagerMessage>, callback: grpc.sendUnaryData<ManagerMessage>) => {
      const theirs = call.metadata.get(METADATA_CLUSTER_ID)[0];
      if (theirs !== clusterId) {
        callback({ code: grpc.status.FAILED_PRECONDITION, details: `worker ${String((call.request as { node?: unknown })?.node)} belongs to cluster "${String(theirs)}", this manager to "${clusterId}"` });
        return;
      }
      const problem = heartbeatProblem(call.request);
      if (problem !== null) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: `bad heartbeat: ${problem}` });
        return;
      }
      try {
        callback(null, handle(call.request as WorkerHeartbeat));
      } catch (error) {
        callback({ code: grpc.status.INTERNAL, details: `heartbeat failed: ${(error as Error).message}` });
      }
    },
  });
}

const WorkerClientConstructor = grpc.makeGenericClientConstructor(workerServiceDefinition, WORKER_SERVICE_NAME);

/** A worker's connection to one manager. */
export class WorkerClient {
  private readonly client: grpc.Client & { Heartbeat: (req: WorkerHeartbeat, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: ManagerMessage) => void) => void };
  private readonly metadata = new grpc.Metadata();

  constructor(readonly address: string, clusterId: string) {
    this.client = new WorkerClientConstructor(address, grpc.credentials.createInsecure()) as unknown as WorkerClient['client'];
    this.metadata.set(METADATA_CLUSTER_ID, clusterId);
  }

  /** Send a heartbeat; resolves with the answer, or rejects (unreachable, refused, deadline). */
  heartbeat(message: WorkerHeartbeat, timeoutMs: number): Promise<ManagerMessage> {
    return new Promise((resolve, reject) => {
      this.client.Heartbeat(message, this.metadata, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res!)));
    });
  }

  close(): void {
    this.client.close();
  }
}
