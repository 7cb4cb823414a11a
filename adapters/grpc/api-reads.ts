// The read methods of the client API, answered from one manager's store (a StateView): lookups by
// id or name, filters, bounded lists, and the one place a secret is turned into what the API may
// show of it (metadata only: never the ciphertext, which never left the store anyway).

import * as grpc from '@grpc/grpc-js';
import type { ClusterNode, NodeId, Secret, SecretId, Service, ServiceId, StateView, TaskId, Volume, VolumeId } from '../../core/state/index.ts';
import type { ApiFailure } from './api-errors.ts';
import type { ParsedRequest } from './api-requests.ts';
import type { ApiResponse, ClusterInfoResponse, ListOptions, SecretMetadata, Served, UnaryMethod } from './api-types.ts';

export const secretMetadata = (secret: Secret): SecretMetadata => ({
  id: secret.id,
  name: secret.name,
  version: secret.version,
  digest: secret.digest,
  createdAtUs: secret.createdAtUs,
});

const notFound = (what: string, ref: string): ApiFailure => ({ code: grpc.status.NOT_FOUND, message: `${what} "${ref}" does not exist (no ${what} has this id or name)` });

export const findNode = (state: StateView, ref: string): ClusterNode | ApiFailure =>
  state.node(ref as NodeId) ?? state.nodeByName(ref) ?? notFound('node', ref);
export const findService = (state: StateView, ref: string): Service | ApiFailure =>
  state.service(ref as ServiceId) ?? state.serviceByName(ref) ?? notFound('service', ref);
export const findSecret = (state: StateView, ref: string): Secret | ApiFailure =>
  state.secret(ref as SecretId) ?? state.secretByName(ref) ?? notFound('secret', ref);
export const findVolume = (state: StateView, ref: string): Volume | ApiFailure =>
  state.volume(ref as VolumeId) ?? state.volumeByName(ref) ?? notFound('volume', ref);

/** Tells a failure from a found object (no object of the store has a `message` and a numeric `code`). */
export const isFailure = (value: object): value is ApiFailure => 'message' in value && typeof (value as ApiFailure).code === 'number';

/** The reads served from the store alone. */
export type ReadMethod = Extract<UnaryMethod, `${string}List` | `${string}Inspect`>;

/** The first `limit` items and how many there were. */
function bounded<T>(items: readonly T[], options: ListOptions, maxItems: number): { items: readonly T[]; total: number } {
  const limit = Math.min(options.limit ?? maxItems, maxItems);
  return { items: items.length > limit ? items.slice(0, limit) : items, total: items.length };
}

/** Answers a read (every method but ClusterInfo, which needs more than the store). */
export function serveRead<M extends ReadMethod>(method: M, request: ParsedRequest<M>, state: StateView, served: Served, maxListItems: number): ApiResponse<M> | ApiFailure {
  const answer = read(method, request as never, state, served, maxListItems);
  return answer as ApiResponse<M> | ApiFailure;
}

function read(method: ReadMethod, request: Record<string, never>, state: StateView, served: Served, maxItems: number): object {
  const r = request as Record<string, string | undefined> & ListOptions;
  switch (method) {
    case 'NodeList': {
      const nodes = state.nodes().filter((n) => (r.role === undefined || n.role === r.role) &&
        (r.availability === undefined || n.availability === r.availability) && (r.status === undefined || n.status === r.status));
      const { items, total } = bounded(nodes, r, maxItems);
      return { ...served, nodes: items, total };
    }
    case 'NodeInspect': {
      const node = findNode(state, r.id!);
      return isFailure(node) ? node : { ...served, node };
    }
    case 'ServiceList': {
      const { items, total } = bounded(state.services(), r, maxItems);
      return { ...served, services: items, total };
    }
    case 'ServiceInspect': {
      const service = findService(state, r.id!);
      return isFailure(service) ? service : { ...served, service };
    }
    case 'TaskList':
      return listTasks(state, r, served, maxItems);
    case 'TaskInspect': {
      const task = state.task(r.id as TaskId);
      return task === null ? ({ code: grpc.status.NOT_FOUND, message: `task "${r.id}" does not exist` } satisfies ApiFailure) : { ...served, task };
    }
    case 'SecretList': {
      const { items, total } = bounded(state.secrets(), r, maxItems);
      return { ...served, secrets: items.map(secretMetadata), total };
    }
    case 'SecretInspect': {
      const secret = findSecret(state, r.id!);
      return isFailure(secret) ? secret : { ...served, secret: secretMetadata(secret) };
    }
    case 'VolumeList': {
      const { items, total } = bounded(state.volumes(), r, maxItems);
      return { ...served, volumes: items, total };
    }
    case 'VolumeInspect': {
      const volume = findVolume(state, r.id!);
      return isFailure(volume) ? volume : { ...served, volume };
    }
  }
}

function listTasks(state: StateView, r: Record<string, string | undefined> & ListOptions, served: Served, maxItems: number): object {
  let tasks = state.tasks();
  if (r.service !== undefined) {
    const service = state.service(r.service as ServiceId) ?? state.serviceByName(r.service);
    // A removed service's tasks stay until compacted: its id still filters them.
    tasks = state.tasksOfService(service?.id ?? (r.service as ServiceId));
  }
  if (r.node !== undefined) {
    const node = findNode(state, r.node);
    if (isFailure(node)) return node;
    tasks = tasks.filter((t) => t.nodeId === node.id);
  }
  if (r.desiredState !== undefined) tasks = tasks.filter((t) => t.desiredState === r.desiredState);
  const { items, total } = bounded(tasks, r, maxItems);
  return { ...served, tasks: items, total };
}

/** What ClusterInfo needs beyond the store. */
export interface ClusterFacts {
  readonly clusterId: string;
  readonly term: number;
  readonly commitIndex: number;
  readonly managers: ClusterInfoResponse['managers'];
  readonly leader: ClusterInfoResponse['leader'];
  readonly removedManagers: ClusterInfoResponse['removedManagers'];
}

export const clusterInfo = (facts: ClusterFacts, served: Served): ClusterInfoResponse => ({ ...served, ...facts });
