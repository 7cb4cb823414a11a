// Validation of a command against the state, run twice: by the proposer before proposing (so the
// client gets a clear error at once) and by apply on every replica (a command proposed against an
// older state may no longer be valid, and then it has no effect). It reads the state only, through
// StateView, and returns the first problem as a StateError, or null when the command may apply.

import { checkTimeUs, describe, isRecord, type Check } from './checks.ts';
import { stateCommandTypes, type StateCommand } from './commands.ts';
import { assertNever } from '../assert.ts';
import { invalidArgument } from './errors.ts';
import { validateNodeCommand } from './validate-nodes.ts';
import { validateObjectCommand } from './validate-objects.ts';
import { validateServiceCommand } from './validate-services.ts';
import { validateTaskCommand } from './validate-tasks.ts';
import { noStoreBugs, type StoreBugs } from './bugs.ts';
import type { StateView } from './view.ts';

export { validateServiceSpec } from './validate-spec.ts';

/** `bugs`: planted bugs of the store's checks (chaos only; none by default). */
export function validateCommand(state: StateView, command: StateCommand, bugs: StoreBugs = noStoreBugs): Check {
  const shape = checkEnvelope(command);
  if (shape !== null) return shape;
  switch (command.type) {
    case 'node-register':
    case 'node-update':
    case 'node-heartbeat':
    case 'node-set-status':
    case 'node-remove':
      return validateNodeCommand(state, command);
    case 'service-create':
    case 'service-update':
    case 'service-rollback':
    case 'service-set-update-status':
    case 'service-remove':
      return validateServiceCommand(state, command);
    case 'task-create':
    case 'task-assign':
    case 'task-set-pending-reason':
    case 'task-set-desired':
    case 'task-report':
    case 'task-remove':
      return validateTaskCommand(state, command, bugs);
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
      return validateObjectCommand(state, command);
    default:
      return assertNever(command, 'command');
  }
}

/** The command is an object of a known type with a valid `atUs` (commands arrive as JSON). */
function checkEnvelope(command: unknown): Check {
  if (!isRecord(command)) return invalidArgument(`a command must be an object, got ${describe(command)}`);
  if (!(stateCommandTypes as readonly unknown[]).includes(command.type)) {
    return invalidArgument(`unknown command type ${describe(command.type)}; expected one of ${stateCommandTypes.join(', ')}`);
  }
  return checkTimeUs(command.atUs);
}
