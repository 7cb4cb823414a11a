// The write methods of the client API as store commands, built on the leader against its store:
// names resolved to ids, ids chosen here (random, in the store's id alphabet), `atUs` from the
// wall clock, partial service updates merged onto the current spec, secret values sealed under the
// cluster key. Each build also says how to answer once the command is applied: with the object as
// the store then holds it. Versions the client named are passed through untouched, so the store's
// optimistic concurrency check decides a stale one (FAILED_PRECONDITION); a version left out of a
// scale or rollback is the one read here, which the same check protects against a race.

import * as grpc from '@grpc/grpc-js';
import { randomBytesPooled } from './random-pool.ts';
import { validateServiceSpec, type NodeId, type SecretId, type ServiceId, type ServiceSpec, type StateCommand, type StateView, type VolumeId } from '../../core/state/index.ts';
import { invalidRequest, type ApiFailure } from './api-errors.ts';
import { findNode, findSecret, findService, findVolume, isFailure, secretMetadata } from './api-reads.ts';
import type { ParsedRequest } from './api-requests.ts';
import type { SecretSealer } from './api-secrets.ts';
import type { Served, UnaryMethod } from './api-types.ts';

export type WriteMethod = Exclude<UnaryMethod, `${string}List` | `${string}Inspect` | 'ClusterInfo' | 'ManagerJoin' | 'ManagerRemove'>;

export interface WriteContext {
  readonly state: StateView;
  readonly nowUs: number;
  readonly sealer: SecretSealer;
  /** A fresh id; random by default (newObjectId). */
  readonly newId: () => string;
}

export interface BuiltWrite {
  readonly command: StateCommand;
  /** The answer, from the store once the command is applied. */
  respond(state: StateView, served: Served): object;
}

/** 80 random bits as 20 lowercase hex characters: within the store's id rule ([A-Za-z0-9][A-Za-z0-9._:-]*, 64 chars). */
export const newObjectId = (): string => randomBytesPooled(10).toString('hex');

type Request = Record<string, unknown>;

export function buildWrite<M extends WriteMethod>(method: M, request: ParsedRequest<M>, ctx: WriteContext): BuiltWrite | ApiFailure {
  return build(method, request as unknown as Request, ctx);
}

function build(method: WriteMethod, r: Request, ctx: WriteContext): BuiltWrite | ApiFailure {
  const atUs = ctx.nowUs;
  switch (method) {
    case 'NodeUpdate': {
      const node = findNode(ctx.state, r.id as string);
      if (isFailure(node)) return node;
      const command: StateCommand = {
        type: 'node-update', id: node.id, version: r.version as number, atUs,
        ...(r.availability === undefined ? {} : { availability: r.availability as 'active' }),
        ...(r.labels === undefined ? {} : { labels: r.labels as Record<string, string> }),
      };
      return { command, respond: (state, served) => ({ ...served, id: node.id, node: state.node(node.id) }) };
    }
    case 'NodeRemove': {
      const node = findNode(ctx.state, r.id as string);
      if (isFailure(node)) return node;
      return removal({ type: 'node-remove', id: node.id, force: r.force === true, atUs }, node.id);
    }
    case 'ServiceCreate': {
      const id = ctx.newId() as ServiceId;
      return serviceWrite({ type: 'service-create', id, spec: r.spec as ServiceSpec, atUs }, id);
    }
    case 'ServiceUpdate':
      return buildServiceUpdate(r, ctx);
    case 'ServiceRollback': {
      const service = findService(ctx.state, r.id as string);
      if (isFailure(service)) return service;
      const version = (r.version as number | undefined) ?? service.version;
      return serviceWrite({ type: 'service-rollback', id: service.id, version, message: 'rollback requested through the API', atUs }, service.id);
    }
    case 'ServiceScale':
      return buildServiceScale(r, ctx);
    case 'ServiceRemove': {
      const service = findService(ctx.state, r.id as string);
      if (isFailure(service)) return service;
      return removal({ type: 'service-remove', id: service.id, atUs }, service.id);
    }
    case 'SecretCreate': {
      const id = ctx.newId() as SecretId;
      const sealed = ctx.sealer.seal(id, r.value as Buffer);
      const command: StateCommand = { type: 'secret-create', id, name: r.name as string, ciphertext: sealed.ciphertext, digest: sealed.digest, atUs };
      return { command, respond: (state, served) => ({ ...served, id, secret: mapNullable(state.secret(id), secretMetadata) }) };
    }
    case 'SecretRemove': {
      const secret = findSecret(ctx.state, r.id as string);
      if (isFailure(secret)) return secret;
      return removal({ type: 'secret-remove', id: secret.id, atUs }, secret.id);
    }
    case 'VolumeCreate':
      return buildVolumeCreate(r, ctx);
    case 'VolumeRemove': {
      const volume = findVolume(ctx.state, r.id as string);
      if (isFailure(volume)) return volume;
      return removal({ type: 'volume-remove', id: volume.id, atUs }, volume.id);
    }
  }
}

const mapNullable = <T, U>(value: T | null, f: (value: T) => U): U | null => (value === null ? null : f(value));

const removal = (command: StateCommand, id: string): BuiltWrite => ({ command, respond: (_, served) => ({ ...served, id }) });

const serviceWrite = (command: StateCommand, id: ServiceId): BuiltWrite => ({
  command,
  respond: (state, served) => ({ ...served, id, service: state.service(id) }),
});

function buildServiceUpdate(r: Request, ctx: WriteContext): BuiltWrite | ApiFailure {
  const service = findService(ctx.state, r.id as string);
  if (isFailure(service)) return service;
  const spec = { ...service.spec, ...(r.spec as Partial<ServiceSpec>) };
  const invalid = validateServiceSpec(spec);
  if (invalid !== null) return invalidRequest(`ServiceUpdate: spec: ${invalid.message}`);
  const force = r.force as boolean | undefined;
  return serviceWrite({ type: 'service-update', id: service.id, version: r.version as number, spec, ...(force === undefined ? {} : { force }), atUs: ctx.nowUs }, service.id);
}

function buildServiceScale(r: Request, ctx: WriteContext): BuiltWrite | ApiFailure {
  const service = findService(ctx.state, r.id as string);
  if (isFailure(service)) return service;
  if (service.spec.mode.type !== 'replicated') {
    return { code: grpc.status.FAILED_PRECONDITION, message: `service "${service.spec.name}" (${service.id}) is global: it runs one task per node and cannot be scaled` };
  }
  const spec: ServiceSpec = { ...service.spec, mode: { type: 'replicated', replicas: r.replicas as number } };
  const version = (r.version as number | undefined) ?? service.version;
  return serviceWrite({ type: 'service-update', id: service.id, version, spec, atUs: ctx.nowUs }, service.id);
}

function buildVolumeCreate(r: Request, ctx: WriteContext): BuiltWrite | ApiFailure {
  let nodeId: NodeId | null = null;
  if (r.node !== null) {
    const node = findNode(ctx.state, r.node as string);
    if (isFailure(node)) return node;
    nodeId = node.id;
  }
  const id = ctx.newId() as VolumeId;
  const command: StateCommand = { type: 'volume-create', id, name: r.name as string, driver: 'local', nodeId, atUs: ctx.nowUs };
  return { command, respond: (state, served) => ({ ...served, id, volume: state.volume(id) }) };
}
