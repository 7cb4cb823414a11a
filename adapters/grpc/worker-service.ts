// The worker protocol over gRPC, defined by hand like the Raft service:
//
//   service warren.worker.v1.Worker {
//     rpc Heartbeat(WorkerHeartbeat) returns (ManagerMessage);
//     rpc ReadSecret(SecretReadRequest) returns (SecretReadAnswer);
//   }
//
// Payloads are JSON: for Heartbeat, core/manager/worker-protocol.ts's messages (a worker's heartbeat,
// with its registration and the task reports the store does not show yet, and the manager's answer:
// the node's assignments, or a redirect to the leader); for ReadSecret, {node, task, secret} and
// {value: base64}. The call's metadata carries the cluster id; a worker of another cluster is refused
// with FAILED_PRECONDITION. A malformed request is refused with INVALID_ARGUMENT naming what is wrong.
// Secrets (Swarm's model): a secret's plaintext goes only to a node that runs a task referencing it.
// ReadSecret is answered by any manager from its applied store (replicated, so a follower's is a
// committed prefix of the leader's): only for a task of that store placed on the asking node, still
// wanted or not yet finished, whose spec (the version it runs) names the secret. The value is opened
// with the cluster key here, at the edge; the store only holds ciphertext. Values are never logged.
// The caller's node id is taken on its word, as heartbeats take it: the cluster id is the only
// credential on this service until workers authenticate (mTLS).

import * as grpc from '@grpc/grpc-js';
import { isAssignable, specOfTask, type ManagerMessage, type WorkerHeartbeat } from '../../core/manager/worker-protocol.ts';
import { stateLimits, type StateView } from '../../core/state/index.ts';
import type { TaskId } from '../../core/state/types.ts';
import { SecretOpenError, SecretSealer } from './api-secrets.ts';
import { leanGrpcOptions, silentLogger, type TransportLogger } from './options.ts';

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
  ReadSecret: {
    path: `/${WORKER_SERVICE_NAME}/ReadSecret`,
    requestStream: false,
    responseStream: false,
    requestSerialize: toJson,
    requestDeserialize: fromJson,
    responseSerialize: toJson,
    responseDeserialize: fromJson,
    originalName: 'readSecret',
  },
} satisfies grpc.ServiceDefinition;

/** A worker asking for the plaintext of `secret` (a name) to create `task` on `node`. */
export interface SecretReadRequest {
  readonly node: string;
  readonly task: string;
  readonly secret: string;
}

export interface SecretReadAnswer {
  /** The plaintext, base64. */
  readonly value: string;
}

/** What a manager needs to serve ReadSecret: its applied store and the cluster key. */
export interface WorkerSecretSource {
  readonly state: () => StateView;
  /** The cluster's 32-byte key, which sealed the values in the store. */
  readonly secretKey: Buffer;
  /** Reads and refusals are logged (names only, never values); default silent. */
  readonly logger?: TransportLogger;
}

export type SecretReadOutcome =
  | { readonly ok: true; readonly value: Buffer }
  | { readonly ok: false; readonly code: grpc.status; readonly message: string };

/** Why a decoded ReadSecret request is not one, or null when it is. */
export function secretReadProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the request must be a JSON object {node, task, secret}';
  const r = value as Record<string, unknown>;
  const fields = [['node', stateLimits.idChars], ['task', stateLimits.idChars], ['secret', stateLimits.objectNameChars]] as const;
  for (const [key, maxChars] of fields) {
    const v = r[key];
    if (typeof v !== 'string' || v === '' || v.length > maxChars) return `field "${key}" must be a string of 1 to ${maxChars} characters`;
  }
  return null;
}

const refused = (code: grpc.status, message: string): SecretReadOutcome => ({ ok: false, code, message });

/**
 * The plaintext of `request.secret` for `request.task` on `request.node`, if the store allows it
 * (see the file's opening comment). Unknown task or secret: NOT_FOUND; a task of another node, or
 * one that no longer runs, or whose spec does not name the secret: PERMISSION_DENIED; a value that
 * does not open with `sealer`'s key: INTERNAL.
 */
export function readSecretFor(state: StateView, sealer: SecretSealer, request: SecretReadRequest): SecretReadOutcome {
  const task = state.task(request.task as TaskId);
  if (task === null) return refused(grpc.status.NOT_FOUND, `task ${request.task} does not exist`);
  if (task.nodeId !== request.node) {
    return refused(grpc.status.PERMISSION_DENIED, `task ${task.id} is not assigned to node ${request.node}: only the node running a task may read its secrets`);
  }
  if (!isAssignable(task)) return refused(grpc.status.PERMISSION_DENIED, `task ${task.id} is ${task.observedState} and wanted ${task.desiredState}: it needs no secret any more`);
  const secret = state.secretByName(request.secret);
  if (secret === null) return refused(grpc.status.NOT_FOUND, `secret "${request.secret}" does not exist`);
  const service = state.service(task.serviceId);
  const spec = service === null ? null : specOfTask(service, task);
  if (spec === null || !spec.secrets.some((reference) => reference.secret === secret.name)) {
    return refused(grpc.status.PERMISSION_DENIED, `task ${task.id}'s spec does not use secret "${secret.name}"`);
  }
  try {
    return { ok: true, value: sealer.open(secret.id, secret.ciphertext) };
  } catch (error) {
    if (!(error instanceof SecretOpenError)) throw error;
    return refused(grpc.status.INTERNAL, `secret "${secret.name}" cannot be opened by this manager (is its cluster key the one the secret was sealed with?): ${error.message}`);
  }
}

/**
 * Why a call is refused before its handler runs, or null: a worker of another cluster
 * (FAILED_PRECONDITION), or a request `problem` finds malformed (INVALID_ARGUMENT, prefixed `what`).
 */
function refusalOf(call: grpc.ServerUnaryCall<unknown, unknown>, clusterId: string, problem: (request: unknown) => string | null, what: string): Partial<grpc.StatusObject> | null {
  const theirs = call.metadata.get(METADATA_CLUSTER_ID)[0];
  if (theirs !== clusterId) {
    return { code: grpc.status.FAILED_PRECONDITION, details: `worker ${String((call.request as { node?: unknown })?.node)} belongs to cluster "${String(theirs)}", this manager to "${clusterId}"` };
  }
  const found = problem(call.request);
  return found === null ? null : { code: grpc.status.INVALID_ARGUMENT, details: `${what}: ${found}` };
}

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

/** Serves heartbeats on `server` with `handle` (the manager's endpoint), and secrets from `secrets`. */
export function addWorkerService(server: grpc.Server, clusterId: string, handle: (heartbeat: WorkerHeartbeat) => ManagerMessage, secrets: WorkerSecretSource): void {
  const sealer = new SecretSealer(secrets.secretKey);
  const log = secrets.logger ?? silentLogger;
  server.addService(workerServiceDefinition, {
    Heartbeat: (call: grpc.ServerUnaryCall<unknown, ManagerMessage>, callback: grpc.sendUnaryData<ManagerMessage>) => {
      const refusal = refusalOf(call, clusterId, heartbeatProblem, 'bad heartbeat');
      if (refusal !== null) {
        callback(refusal);
        return;
      }
      try {
        callback(null, handle(call.request as WorkerHeartbeat));
      } catch (error) {
        callback({ code: grpc.status.INTERNAL, details: `heartbeat failed: ${(error as Error).message}` });
      }
    },
    ReadSecret: (call: grpc.ServerUnaryCall<unknown, SecretReadAnswer>, callback: grpc.sendUnaryData<SecretReadAnswer>) => {
      const refusal = refusalOf(call, clusterId, secretReadProblem, 'bad secret read');
      if (refusal !== null) {
        callback(refusal);
        return;
      }
      const request = call.request as SecretReadRequest;
      const fields = { event: 'secret-read', node_id: request.node, task_id: request.task, secret: request.secret };
      let outcome: SecretReadOutcome;
      try {
        outcome = readSecretFor(secrets.state(), sealer, request);
      } catch (error) {
        outcome = refused(grpc.status.INTERNAL, `secret read failed: ${(error as Error).message}`);
      }
      if (!outcome.ok) {
        log.warn({ ...fields, code: grpc.status[outcome.code], reason: outcome.message }, 'secret read refused');
        callback({ code: outcome.code, details: outcome.message });
        return;
      }
      log.info(fields, 'secret read');
      callback(null, { value: outcome.value.toString('base64') });
    },
  });
}

const WorkerClientConstructor = grpc.makeGenericClientConstructor(workerServiceDefinition, WORKER_SERVICE_NAME);

/** A worker's connection to one manager. */
export class WorkerClient {
  private readonly client: grpc.Client & {
    Heartbeat: (req: WorkerHeartbeat, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: ManagerMessage) => void) => void;
    ReadSecret: (req: SecretReadRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => void;
  };
  private readonly metadata = new grpc.Metadata();

  constructor(readonly address: string, clusterId: string) {
    this.client = new WorkerClientConstructor(address, grpc.credentials.createInsecure(), leanGrpcOptions) as unknown as WorkerClient['client'];
    this.metadata.set(METADATA_CLUSTER_ID, clusterId);
  }

  /** Send a heartbeat; resolves with the answer, or rejects (unreachable, refused, deadline). */
  heartbeat(message: WorkerHeartbeat, timeoutMs: number): Promise<ManagerMessage> {
    return new Promise((resolve, reject) => {
      this.client.Heartbeat(message, this.metadata, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res!)));
    });
  }

  /**
   * The plaintext of a secret for a task of this node; rejects with the manager's refusal (a
   * grpc.ServiceError with its code), when unreachable, or at the deadline.
   */
  readSecret(request: SecretReadRequest, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.client.ReadSecret(request, this.metadata, { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) return reject(err);
        const value = (res as { value?: unknown } | null)?.value;
        if (typeof value !== 'string') return reject(new Error(`manager at ${this.address} answered ReadSecret without a base64 "value"`));
        resolve(Buffer.from(value, 'base64'));
      });
    });
  }

  close(): void {
    this.client.close();
  }
}
