// Dispatch of a validated command to its effect. Deterministic: effects depend only on the state
// and the command (times come from `atUs`, ids from the proposer), and lists are walked in id order.

import { assertNever } from '../assert.ts';
import { applyNodeCommand, applyServiceCommand } from './apply-nodes-services.ts';
import { applyObjectCommand } from './apply-objects.ts';
import { applyTaskCommand } from './apply-tasks.ts';
import type { StateCommand } from './commands.ts';
import type { Tables } from './tables.ts';

/** Applies a command that validateCommand accepted on this very state; returns whether anything changed. */
export function applyValidated(tables: Tables, command: StateCommand): boolean {
  switch (command.type) {
    case 'node-register':
    case 'node-update':
    case 'node-heartbeat':
    case 'node-set-status':
    case 'node-remove':
      return applyNodeCommand(tables, command);
    case 'service-create':
    case 'service-update':
    case 'service-rollback':
    case 'service-set-update-status':
    case 'service-remove':
      return applyServiceCommand(tables, command);
    case 'task-create':
    case 'task-assign':
    case 'task-set-pending-reason':
    case 'task-set-desired':
    case 'task-report':
    case 'task-remove':
      return applyTaskCommand(tables, command);
    case 'secret-create':
    case 'secret-remove':
    case 'volume-create':
    case 'volume-set-node':
    case 'volume-remove':
    case 'ingress-create':
    case 'ingress-update':
    case 'ingress-remove':
    case 'certificate-create':
    case 'certificate-update':
    case 'certificate-remove':
      return applyObjectCommand(tables, command);
    default:
      return assertNever(command, 'command');
  }
}
