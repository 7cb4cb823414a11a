// Canonical JSON: object keys in sorted order at every depth, no whitespace, undefined properties
// left out (as JSON.stringify does). The same value always gives the same bytes, whatever order its
// properties were created in, so snapshots compare byte for byte and commands encode identically
// on every proposer.

import type { StateCommand } from './commands.ts';

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
}

/** The data of a Raft entry for `command`. */
export const encodeCommand = (command: StateCommand): string => canonicalJson(command);

/**
 * The command in a Raft entry. Only its JSON syntax is trusted here (the log is checksummed);
 * apply validates its shape and meaning like any other command.
 */
export const decodeCommand = (data: string): StateCommand => JSON.parse(data) as StateCommand;
