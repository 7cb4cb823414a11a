// Argument parsing for interaction scripts (interaction.ts): node ids, counts, key=value options
// and message filters. A malformed argument is a ScriptError: the script is wrong, not the core.

import type { RaftBugs } from './bugs.ts';
import { noBugs } from './bugs.ts';
import { nodeId, type Message, type NodeId } from './types.ts';

/** The script itself is wrong (unknown command, bad argument): not something to rewrite. */
export class ScriptError extends Error {
  override readonly name = 'ScriptError';
}

const bugNames = Object.keys(noBugs) as (keyof RaftBugs)[];

export function parseNodeId(arg: string | undefined): NodeId {
  const m = /^n?(\d+)$/.exec(arg ?? '');
  if (!m) throw new ScriptError(`expected a node (1 or n1), got '${arg ?? ''}'`);
  return nodeId(`n${m[1]}`);
}

export function required(arg: string | undefined, what: string): string {
  if (arg === undefined || arg === '') throw new ScriptError(`missing ${what}`);
  return arg;
}

export function count(arg: string | undefined): number {
  if (arg === undefined) return 1;
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new ScriptError(`expected a count 1..10000, got '${arg}'`);
  return n;
}

export function splitArgs(args: string[]): { positional: string[]; options: Map<string, string> } {
  const positional: string[] = [];
  const options = new Map<string, string>();
  for (const a of args) {
    const at = a.indexOf('=');
    if (at > 0) options.set(a.slice(0, at), a.slice(at + 1));
    else positional.push(a);
  }
  return { positional, options };
}

export function messageFilter(options: Map<string, string>, allowed: string[]): (m: Message) => boolean {
  for (const key of options.keys()) if (!allowed.includes(key)) throw new ScriptError(`unknown option '${key}'`);
  const type = options.get('type');
  return (m) => type === undefined || m.type === type;
}

export function bool(key: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new ScriptError(`${key} must be true or false, got '${value}'`);
}

export function int(key: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new ScriptError(`${key} must be an integer, got '${value}'`);
  return n;
}

export function parseBugs(value: string): RaftBugs {
  const bugs: Record<keyof RaftBugs, boolean> = { ...noBugs };
  for (const name of value.split(',')) {
    if (!(bugNames as string[]).includes(name)) throw new ScriptError(`unknown bug '${name}'; known: ${bugNames.join(', ')}`);
    bugs[name as keyof RaftBugs] = true;
  }
  return bugs;
}
