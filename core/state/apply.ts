// Dispatch of a validated command to its effect. Deterministic: effects depend only on the state
// and the command (times come from `atUs`, ids from the proposer), and lists are walked in id order.

import { applyNodeCommand, applyServiceCommand } from './apply-nodes-services.ts';
import { applyObjectCommand } from './apply-objects.ts';
import { applyTaskCommand } from './apply-tasks.ts';
import { isNodeCommand, isServiceCommand, isTaskCommand, type StateCommand } from './commands.ts';
import type { Tables } from './tables.ts';

/** Applies a command that validateCommand accepted on this very state; returns whether anything changed. */
export function applyValidated(tables: Tables, command: StateCommand): boolean {
  if (isNodeCommand(command)) return applyNodeCommand(tables, command);
  if (isServiceCommand(command)) return applyServiceCommand(tables, command);
  if (isTaskCommand(command)) return applyTaskCommand(tables, command);
  return applyObjectCommand(tables, command);
}
