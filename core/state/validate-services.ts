// Validation of service commands against the state: the spec itself (validate-spec.ts), unique
// names, the secrets and volumes it names, optimistic concurrency on updates and rollbacks, a mode
// that never changes, and the update-status progressions the reconciler may record.

import { checkEnum, checkId, checkInteger, checkString, checkVersionField, type Check } from './checks.ts';
import type { ServiceCommand } from './commands.ts';
import { alreadyExists, checkVersion, failedPrecondition, invalidArgument, isStateError, notFound, type StateError } from './errors.ts';
import { stateLimits } from './limits.ts';
import type { Service, ServiceId, ServiceSpec, UpdateState } from './types.ts';
import { validateServiceSpec } from './validate-spec.ts';
import type { StateView } from './view.ts';

export const updateStates: readonly UpdateState[] = ['updating', 'paused', 'completed', 'rolling-back', 'rolled-back'];

/** Checks the id and that the service exists. */
export function existingService(state: StateView, id: unknown, path = 'id'): Service | StateError {
  const error = checkId(id, path);
  if (error !== null) return error;
  return state.service(id as ServiceId) ?? notFound(`service ${id} does not exist`);
}

/**
 * The service runs a rolled-back spec: specVersion only ever goes below previousSpecVersion by a
 * rollback (an update always takes a number above both).
 */
export const isRolledBack = (service: Service): boolean =>
  service.previousSpecVersion !== null && service.specVersion < service.previousSpecVersion;

export function validateServiceCommand(state: StateView, command: ServiceCommand): Check {
  switch (command.type) {
    case 'service-create': {
      const error = checkId(command.id, 'id') ?? validateServiceSpec(command.spec);
      if (error !== null) return error;
      if (state.service(command.id) !== null) return alreadyExists(`service ${command.id} already exists`);
      return checkNameFree(state, command.spec.name, command.id) ?? checkReferences(state, command.spec);
    }
    case 'service-update':
      return validateUpdate(state, command);
    case 'service-rollback':
      return validateRollback(state, command);
    case 'service-set-update-status':
      return validateSetUpdateStatus(state, command);
    case 'service-remove': {
      const service = existingService(state, command.id);
      return isStateError(service) ? service : null;
    }
  }
}

function checkNameFree(state: StateView, name: string, id: ServiceId): Check {
  const holder = state.serviceByName(name);
  return holder === null || holder.id === id ? null : alreadyExists(`service name "${name}" is taken by service ${holder.id}`);
}

/** Secrets and volumes are referenced by name and must exist. */
export function checkReferences(state: StateView, spec: ServiceSpec): Check {
  for (const reference of spec.secrets) {
    if (state.secretByName(reference.secret) === null) return notFound(`secret "${reference.secret}" does not exist: create it first`);
  }
  for (const mount of spec.mounts) {
    if (state.volumeByName(mount.volume) === null) return notFound(`volume "${mount.volume}" does not exist: create it first`);
  }
  return null;
}

function validateUpdate(state: StateView, command: Extract<ServiceCommand, { type: 'service-update' }>): Check {
  const service = existingService(state, command.id);
  if (isStateError(service)) return service;
  const error =
    checkVersionField(command.version) ??
    (command.force === undefined || typeof command.force === 'boolean' ? null : invalidArgument(`force must be true or false, got ${JSON.stringify(command.force)}`)) ??
    validateServiceSpec(command.spec) ??
    checkVersion(`service ${command.id}`, command.version, service.version);
  if (error !== null) return error;
  if (command.spec.mode.type !== service.spec.mode.type) {
    return invalidArgument(`mode cannot change from ${service.spec.mode.type} to ${command.spec.mode.type}: create a new service instead`);
  }
  return checkNameFree(state, command.spec.name, service.id) ?? checkReferences(state, command.spec);
}

function validateRollback(state: StateView, command: Extract<ServiceCommand, { type: 'service-rollback' }>): Check {
  const service = existingService(state, command.id);
  if (isStateError(service)) return service;
  const error =
    checkVersionField(command.version) ??
    (command.message === undefined ? null : checkString(command.message, 'message', stateLimits.messageChars)) ??
    checkVersion(`service ${command.id}`, command.version, service.version);
  if (error !== null) return error;
  if (service.previousSpec === null) return failedPrecondition(`service ${service.id} has no previous spec to roll back to`);
  return checkNameFree(state, service.previousSpec.name, service.id) ?? checkReferences(state, service.previousSpec);
}

/** Where the reconciler may take an update; a rollback itself starts only with service-rollback. */
function allowedNext(service: Service, current: UpdateState): readonly UpdateState[] {
  switch (current) {
    case 'updating':
      return ['updating', 'paused', 'completed'];
    case 'rolling-back':
      return ['rolling-back', 'paused', 'rolled-back'];
    case 'paused':
      return isRolledBack(service) ? ['paused', 'rolling-back', 'rolled-back'] : ['paused', 'updating', 'completed'];
    case 'completed':
    case 'rolled-back':
      return [current];
  }
}

function validateSetUpdateStatus(state: StateView, command: Extract<ServiceCommand, { type: 'service-set-update-status' }>): Check {
  const service = existingService(state, command.id);
  if (isStateError(service)) return service;
  const error =
    checkInteger(command.specVersion, 'specVersion', 1, Number.MAX_SAFE_INTEGER) ??
    checkEnum(command.state, 'state', updateStates) ??
    checkString(command.message, 'message', stateLimits.messageChars);
  if (error !== null) return error;
  if (command.specVersion !== service.specVersion) {
    return failedPrecondition(`update status is for spec version ${command.specVersion} but service ${service.id} is at spec version ${service.specVersion}`);
  }
  if (service.updateStatus === null) return failedPrecondition(`service ${service.id} has no update in progress`);
  const allowed = allowedNext(service, service.updateStatus.state);
  if (!allowed.includes(command.state)) {
    return failedPrecondition(`update status of service ${service.id} cannot go from ${service.updateStatus.state} to ${command.state}; expected one of ${allowed.join(', ')}`);
  }
  return null;
}
