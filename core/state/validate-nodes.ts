// Validation of node commands against the state: shapes, unique names, existence, versions, and
// the precondition for removing a node (not while it is ready, unless forced; never while it holds
// a volume's data, which would be silently lost).

import { checkEnum, checkHostname, checkId, checkLabels, checkResources, checkString, checkVersionField, type Check } from './checks.ts';
import type { NodeCommand } from './commands.ts';
import { alreadyExists, checkVersion, failedPrecondition, invalidArgument, isStateError, notFound, type StateError } from './errors.ts';
import { stateLimits } from './limits.ts';
import type { ClusterNode, NodeId } from './types.ts';
import type { StateView } from './view.ts';

export const nodeRoles = ['manager', 'worker', 'hybrid'] as const;
export const nodeAvailabilities = ['active', 'pause', 'drain'] as const;
export const nodeStatuses = ['ready', 'down', 'unknown'] as const;

/** Checks the id and that the node exists. */
export function existingNode(state: StateView, id: unknown, path = 'id'): ClusterNode | StateError {
  const error = checkId(id, path);
  if (error !== null) return error;
  return state.node(id as NodeId) ?? notFound(`node ${id} does not exist`);
}

export function validateNodeCommand(state: StateView, command: NodeCommand): Check {
  switch (command.type) {
    case 'node-register':
      return validateRegister(state, command);
    case 'node-update': {
      const node = existingNode(state, command.id);
      if (isStateError(node)) return node;
      return checkVersionField(command.version) ??
        checkVersion(`node ${command.id}`, command.version, node.version) ??
        (command.availability === undefined && command.labels === undefined
          ? invalidArgument('node-update must change availability or labels (or both)')
          : null) ??
        (command.availability === undefined ? null : checkEnum(command.availability, 'availability', nodeAvailabilities)) ??
        (command.labels === undefined ? null : checkLabels(command.labels, 'labels'));
    }
    case 'node-heartbeat': {
      const node = existingNode(state, command.id);
      return isStateError(node) ? node : null;
    }
    case 'node-set-status': {
      const node = existingNode(state, command.id);
      return isStateError(node) ? node : checkEnum(command.status, 'status', nodeStatuses);
    }
    case 'node-remove':
      return validateRemove(state, command);
  }
}

function validateRegister(state: StateView, command: Extract<NodeCommand, { type: 'node-register' }>): Check {
  const error =
    checkId(command.id, 'id') ??
    checkHostname(command.name, 'name') ??
    checkEnum(command.role, 'role', nodeRoles) ??
    checkResources(command.resources, 'resources') ??
    checkLabels(command.labels, 'labels') ??
    checkString(command.address, 'address', stateLimits.addressChars, false);
  if (error !== null) return error;
  if (state.node(command.id) !== null) return alreadyExists(`node ${command.id} is already registered`);
  const holder = state.nodeByName(command.name);
  if (holder !== null) return alreadyExists(`node name "${command.name}" is taken by node ${holder.id}`);
  return null;
}

function validateRemove(state: StateView, command: Extract<NodeCommand, { type: 'node-remove' }>): Check {
  const node = existingNode(state, command.id);
  if (isStateError(node)) return node;
  if (typeof command.force !== 'boolean') return invalidArgument(`force must be true or false, got ${JSON.stringify(command.force)}`);
  if (node.status === 'ready' && !command.force) {
    return failedPrecondition(`node ${command.id} is ready: drain it and wait for it to go down, or remove it with force`);
  }
  const volume = state.volumes().find((v) => v.nodeId === command.id);
  if (volume !== undefined) {
    return failedPrecondition(`node ${command.id} holds the data of volume "${volume.name}": move the volume to another node or remove it first`);
  }
  return null;
}
