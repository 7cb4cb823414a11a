// Validation of secrets, volumes, ingresses and certificates. Objects that others reference by name
// cannot be removed while referenced: a secret or volume named by a service's current or previous
// spec (a rollback would need it), a volume mounted by a live task, a certificate named by an
// ingress. A volume cannot move away from the node where live tasks use it.

import {
  checkArray, checkDnsLabel, checkEach, checkEnum, checkHostname, checkId, checkInteger, checkObjectName, checkString,
  checkVersionField, describe, isRecord, type Check,
} from './checks.ts';
import type { ObjectCommand } from './commands.ts';
import { alreadyExists, checkVersion, failedPrecondition, invalidArgument, isStateError, notFound, type StateError } from './errors.ts';
import { stateLimits as limits } from './limits.ts';
import type {
  Certificate, CertificateId, Ingress, IngressId, IngressRule, Secret, SecretId, Service, ServiceSpec, Volume, VolumeId,
} from './types.ts';
import { existingNode } from './validate-nodes.ts';
import type { StateView } from './view.ts';

type Kind = 'secret' | 'volume' | 'ingress' | 'certificate';
type Named = { readonly id: string; readonly name: string };

function byId(state: StateView, kind: Kind, id: string): Named | null {
  switch (kind) {
    case 'secret': return state.secret(id as SecretId);
    case 'volume': return state.volume(id as VolumeId);
    case 'ingress': return state.ingress(id as IngressId);
    case 'certificate': return state.certificate(id as CertificateId);
  }
}

function byName(state: StateView, kind: Kind, name: string): Named | null {
  switch (kind) {
    case 'secret': return state.secretByName(name);
    case 'volume': return state.volumeByName(name);
    case 'ingress': return state.ingressByName(name);
    case 'certificate': return state.certificateByName(name);
  }
}

/** Checks the id and that the object exists; `T` is the object type of `kind`. */
function existing<T extends Named>(state: StateView, kind: Kind, id: unknown): T | StateError {
  return checkId(id, 'id') ?? ((byId(state, kind, id as string) as T | null) ?? notFound(`${kind} ${id} does not exist`));
}

/** Checks a new object's id and name are free. */
function checkNew(state: StateView, kind: Kind, id: string, name: string): Check {
  if (byId(state, kind, id) !== null) return alreadyExists(`${kind} ${id} already exists`);
  const holder = byName(state, kind, name);
  return holder === null ? null : alreadyExists(`${kind} name "${name}" is taken by ${kind} ${holder.id}`);
}

/** The first service whose current or previous spec satisfies `uses`. */
function serviceUsing(state: StateView, uses: (spec: ServiceSpec) => boolean): Service | null {
  return state.services().find((s) => uses(s.spec) || (s.previousSpec !== null && uses(s.previousSpec))) ?? null;
}

const optionalNode = (state: StateView, nodeId: unknown): Check => {
  if (nodeId === null) return null;
  const node = existingNode(state, nodeId, 'nodeId');
  return isStateError(node) ? node : null;
};

export function validateObjectCommand(state: StateView, command: ObjectCommand): Check {
  switch (command.type) {
    case 'secret-create':
      return checkId(command.id, 'id') ?? checkObjectName(command.name, 'name') ??
        checkString(command.ciphertext, 'ciphertext', limits.ciphertextChars, false) ??
        checkString(command.digest, 'digest', limits.digestChars, false) ??
        checkNew(state, 'secret', command.id, command.name);
    case 'secret-remove': {
      const secret = existing<Secret>(state, 'secret', command.id);
      if (isStateError(secret)) return secret;
      const user = serviceUsing(state, (spec) => spec.secrets.some((r) => r.secret === secret.name));
      return user === null ? null : failedPrecondition(`secret "${secret.name}" is used by service "${user.spec.name}" (${user.id}): remove the reference first`);
    }
    case 'volume-create':
      return checkId(command.id, 'id') ?? checkObjectName(command.name, 'name') ?? checkEnum(command.driver, 'driver', ['local']) ??
        optionalNode(state, command.nodeId) ?? checkNew(state, 'volume', command.id, command.name);
    case 'volume-set-node':
      return validateVolumeSetNode(state, command);
    case 'volume-remove':
      return validateVolumeRemove(state, command);
    case 'ingress-create':
      return checkId(command.id, 'id') ?? checkDnsLabel(command.name, 'name') ?? checkIngressBody(state, command, null) ??
        checkNew(state, 'ingress', command.id, command.name);
    case 'ingress-update': {
      const ingress = existing<Ingress>(state, 'ingress', command.id);
      if (isStateError(ingress)) return ingress;
      return checkVersionField(command.version) ?? checkVersion(`ingress ${ingress.id}`, command.version, ingress.version) ??
        checkIngressBody(state, command, ingress);
    }
    case 'ingress-remove': {
      const ingress = existing<Ingress>(state, 'ingress', command.id);
      return isStateError(ingress) ? ingress : null;
    }
    case 'certificate-create':
      return checkId(command.id, 'id') ?? checkDnsLabel(command.name, 'name') ?? checkEnum(command.source, 'source', ['acme', 'manual']) ??
        checkCertificateBody(command, command.source) ?? checkNew(state, 'certificate', command.id, command.name);
    case 'certificate-update':
      return validateCertificateUpdate(state, command);
    case 'certificate-remove': {
      const certificate = existing<Certificate>(state, 'certificate', command.id);
      if (isStateError(certificate)) return certificate;
      const user = state.ingresses().find((i) => i.certificate === certificate.name);
      return user === undefined ? null : failedPrecondition(`certificate "${certificate.name}" is used by ingress "${user.name}" (${user.id}): change the ingress first`);
    }
  }
}

function validateVolumeSetNode(state: StateView, command: Extract<ObjectCommand, { type: 'volume-set-node' }>): Check {
  const volume = existing<Volume>(state, 'volume', command.id);
  if (isStateError(volume)) return volume;
  const error = checkVersionField(command.version) ?? checkVersion(`volume ${volume.id}`, command.version, volume.version) ??
    optionalNode(state, command.nodeId);
  if (error !== null) return error;
  const user = state.tasks().find((t) => t.nodeId !== command.nodeId && state.claimOf(t.id)?.volumes.includes(volume.name));
  return user === undefined ? null : failedPrecondition(`volume "${volume.name}" is in use by task ${user.id} on node ${user.nodeId}: stop it first`);
}

function validateVolumeRemove(state: StateView, command: Extract<ObjectCommand, { type: 'volume-remove' }>): Check {
  const volume = existing<Volume>(state, 'volume', command.id);
  if (isStateError(volume)) return volume;
  const service = serviceUsing(state, (spec) => spec.mounts.some((m) => m.volume === volume.name));
  if (service !== null) return failedPrecondition(`volume "${volume.name}" is mounted by service "${service.spec.name}" (${service.id}): remove the mount first`);
  const task = state.tasks().find((t) => state.claimOf(t.id)?.volumes.includes(volume.name));
  return task === undefined ? null : failedPrecondition(`volume "${volume.name}" is mounted by task ${task.id}: wait for it to stop`);
}

/** Whether certificate domain `domain` (maybe `*.example.com`) covers `host`. */
export function domainCovers(domain: string, host: string): boolean {
  if (domain === host) return true;
  if (!domain.startsWith('*.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && !host.startsWith('*.') && host.slice(dot + 1) === domain.slice(2);
}

function checkIngressBody(state: StateView, command: { rules: readonly IngressRule[]; certificate: string | null }, self: Ingress | null): Check {
  const error = checkArray(command.rules, 'rules', limits.ingressRules, false) ?? checkEach(command.rules, checkRule);
  if (error !== null) return error;
  const routes = new Set<string>();
  for (const rule of command.rules) {
    const route = `${rule.host}${rule.pathPrefix}`;
    if (routes.has(route)) return invalidArgument(`route ${route} appears twice: each host and path prefix may be routed once`);
    routes.add(route);
    const other = state.ingresses().find((i) => i.id !== self?.id && i.rules.some((r) => r.host === rule.host && r.pathPrefix === rule.pathPrefix));
    if (other !== undefined) return failedPrecondition(`route ${route} is already served by ingress "${other.name}" (${other.id})`);
  }
  if (command.certificate === null) return null;
  const nameError = checkDnsLabel(command.certificate, 'certificate');
  if (nameError !== null) return nameError;
  const certificate = state.certificateByName(command.certificate);
  if (certificate === null) return notFound(`certificate "${command.certificate}" does not exist: create it first`);
  return checkCovered(certificate, command.rules);
}

function checkCovered(certificate: Certificate, rules: readonly IngressRule[]): Check {
  const uncovered = rules.find((r) => !certificate.domains.some((d) => domainCovers(d, r.host)));
  return uncovered === undefined ? null : failedPrecondition(`certificate "${certificate.name}" does not cover host ${uncovered.host}; it covers ${certificate.domains.join(', ')}`);
}

function checkRule(rule: unknown, i: number): Check {
  const path = `rules[${i}]`;
  if (!isRecord(rule)) return invalidArgument(`${path} must be an object { host, pathPrefix, service, port }, got ${describe(rule)}`);
  return checkHostname(rule.host, `${path}.host`, true) ??
    checkString(rule.pathPrefix, `${path}.pathPrefix`, limits.pathChars, false) ??
    ((rule.pathPrefix as string).startsWith('/') ? null : invalidArgument(`${path}.pathPrefix must start with '/', got ${describe(rule.pathPrefix)}`)) ??
    checkDnsLabel(rule.service, `${path}.service`) ??
    checkInteger(rule.port, `${path}.port`, 1, 65535);
}

function checkCertificateBody(command: { domains: readonly string[]; ciphertext: string; notAfterUs: number | null }, source: string): Check {
  return checkArray(command.domains, 'domains', limits.certificateDomains, false) ??
    checkEach(command.domains, (d, i) => checkHostname(d, `domains[${i}]`, true)) ??
    (new Set(command.domains).size === command.domains.length ? null : invalidArgument('domains must not repeat a domain')) ??
    checkString(command.ciphertext, 'ciphertext', limits.ciphertextChars, source === 'acme') ??
    (command.notAfterUs === null ? null : checkInteger(command.notAfterUs, 'notAfterUs', 0, Number.MAX_SAFE_INTEGER));
}

function validateCertificateUpdate(state: StateView, command: Extract<ObjectCommand, { type: 'certificate-update' }>): Check {
  const certificate = existing<Certificate>(state, 'certificate', command.id);
  if (isStateError(certificate)) return certificate;
  const error = checkVersionField(command.version) ?? checkVersion(`certificate ${certificate.id}`, command.version, certificate.version) ??
    checkCertificateBody(command, certificate.source);
  if (error !== null) return error;
  const updated = { ...certificate, domains: command.domains };
  for (const ingress of state.ingresses()) {
    if (ingress.certificate !== certificate.name) continue;
    const uncovered = checkCovered(updated, ingress.rules);
    if (uncovered !== null) return failedPrecondition(`${uncovered.message} (needed by ingress "${ingress.name}")`);
  }
  return null;
}
