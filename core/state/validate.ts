// Validation of a command against the state, run twice: by the proposer before proposing (so the
// client gets a clear error at once) and by apply on every replica (a command proposed against an
// older state may no longer be valid, and then it has no effect). It reads the state only, through
// StateView, and returns the first problem as a StateError, or null when the command may apply.

import { checkTimeUs, describe, isRecord, type Check } from './checks.ts';
import { isNodeCommand, isServiceCommand, isTaskCommand, stateCommandTypes, type StateCommand } from './commands.ts';
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
  if (isNodeCommand(command)) return validateNodeCommand(state, command);
  if (isServiceCommand(command)) return validateServiceCommand(state, command);
  if (isTaskCommand(command)) return validateTaskCommand(state, command, bugs);
  return validateObjectCommand(state, command);
}

/** The command is an object of a known type with a valid `atUs` (commands arrive as JSON). */
function checkEnvelope(command: unknown): Check {
  if (!isRecord(command)) return invalidArgument(`a command must be an object, got ${describe(command)}`);
  if (!(stateCommandTypes as readonly unknown[]).includes(command.type)) {
    return invalidArgument(`unknown command type ${describe(command.type)}; expected one of ${stateCommandTypes.join(', ')}`);
  }
  return checkTimeUs(command.atUs);
}
