// The client commands of `warren`, as Docker Swarm has them: service (./client-service.ts), task,
// node, secret, volume, events and `cluster info`, each one or a few calls of the client API
// (ApiClient) to the managers named by --managers, else $WARREN_MANAGERS, else 127.0.0.1:4240.
// Reads print aligned tables with Docker's columns (--json: one JSON document; -q: ids only);
// writes print what they changed.
// Invariants: every flag and argument is checked before the first call (and a service spec with
// the store's own validateServiceSpec), so bad input exits 2 and changes nothing; a server's answer
// exits 1 as `warren: STATUS: message`, and a write whose outcome is unknown says so and names the
// command to look with before retrying; the client is closed when the command ends.

import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { isLabelKey, labelKeyRule } from '../../core/scheduler/index.ts';
import { stateCommandTypes, stateLimits, type ClusterNode, type NodeId, type StateCommandType } from '../../core/state/index.ts';
import { maxSecretValueBytes } from '../grpc/api-secrets.ts';
import { ApiClient, ApiError, type ClusterInfoResponse } from '../grpc/index.ts';
import {
  ago, asIs, capitalized, collect, defaultManagerAddress, integerIn, json, oneOf, parseKeyValue, parseManagers, table, UsageError,
} from './client-format.ts';
import { addServiceCommands, printTasks } from './client-service.ts';
import type { CliIo } from './main.ts';

export interface ClientIo extends CliIo {
  /** Where `secret create NAME -` reads the value; process.stdin when left out. */
  readonly stdin?: AsyncIterable<Buffer | string>;
  /** Where WARREN_MANAGERS is read; process.env when left out. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Ends `warren events` as SIGINT does; SIGINT and SIGTERM when left out. */
  readonly interrupt?: AbortSignal;
}

/** What a command's body works with. */
export interface Context {
  readonly client: ApiClient;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly io: ClientIo;
}

export interface ManagerOptions {
  readonly managers?: string[];
}

/**
 * Runs a command's body against the managers of `options` and sets the exit code it ends with.
 * `look` is the command that shows whether a write took effect, for when its outcome is unknown.
 */
export type Run = (options: ManagerOptions, look: string, body: (ctx: Context) => Promise<number | void>) => void;

/** The text of a server's answer: `warren: STATUS: message`, the leader when known, and what to do when a write's outcome is unknown. */
function apiErrorText(error: ApiError, look: string): string {
  const leader = error.leader === null ? '' : ` (the leader is ${error.leader.id}${error.leader.apiAddress === null ? '' : ` at ${error.leader.apiAddress}`})`;
  const unknown = error.outcome !== 'unknown' ? ''
    : `warren: the outcome is unknown: the change may or may not have been applied; check with '${look}' before retrying\n`;
  return `warren: ${error.codeName}: ${error.message}${leader}\n${unknown}`;
}

function managersOf(options: ManagerOptions, io: ClientIo): string[] {
  if (options.managers !== undefined) return options.managers;
  const fromEnv = (io.env ?? process.env).WARREN_MANAGERS;
  if (fromEnv === undefined || fromEnv === '') return [defaultManagerAddress];
  try {
    return parseManagers(fromEnv);
  } catch (error) {
    throw new UsageError(`WARREN_MANAGERS: ${(error as Error).message}`);
  }
}

async function execute(io: ClientIo, options: ManagerOptions, look: string, body: (ctx: Context) => Promise<number | void>): Promise<number> {
  let client: ApiClient | null = null;
  try {
    client = new ApiClient({ addresses: managersOf(options, io) });
    const ctx: Context = { client, io, out: (text) => io.stdout.write(text), err: (text) => io.stderr.write(text) };
    return (await body(ctx)) ?? 0;
  } catch (error) {
    if (error instanceof UsageError || error instanceof InvalidArgumentError) {
      io.stderr.write(`warren: ${error.message}\n`);
      return 2;
    }
    if (error instanceof ApiError) {
      io.stderr.write(apiErrorText(error, look));
      return 1;
    }
    throw error;
  } finally {
    client?.close();
  }
}

/** Acts on each of several targets (rm, scale), going on after a failure; exits 1 if any failed. */
export async function eachTarget<T>(ctx: Context, targets: readonly T[], look: (target: T) => string, act: (target: T) => Promise<void>): Promise<number> {
  let failed = 0;
  for (const target of targets) {
    try {
      await act(target);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      ctx.err(apiErrorText(error, look(target)));
      failed++;
    }
  }
  return failed === 0 ? 0 : 1;
}

/** Removes each reference, printing it once removed (the rm commands); exits 1 if any failed. */
export function removeEach(ctx: Context, refs: readonly string[], look: string, remove: (id: string) => Promise<unknown>): Promise<number> {
  return eachTarget(ctx, refs, () => look, async (id) => {
    await remove(id);
    ctx.out(`${id}\n`);
  });
}

/** Inspects each reference: a JSON array of those found; exits 1 if any was not. */
export async function inspectEach<T>(ctx: Context, refs: readonly string[], fetch: (ref: string) => Promise<T>): Promise<number> {
  const found: T[] = [];
  const code = await eachTarget(ctx, refs, () => '', async (ref) => {
    found.push(await fetch(ref));
  });
  ctx.out(json(found));
  return code;
}

/** A client command under `group`, with --managers. */
export function leaf(group: Command, nameAndArgs: string, description: string): Command {
  return group.command(nameAndArgs).description(description).allowExcessArguments(false)
    .addOption(new Option('--managers <HOST:PORT,...>', `the managers' client API addresses (default: $WARREN_MANAGERS, else ${defaultManagerAddress})`).argParser(parseManagers));
}

/** --json and -q of the list commands. */
export function listOptions(command: Command, what: string): Command {
  return command.option('--json', `print the ${what} as one JSON document`).option('-q, --quiet', 'print ids only');
}

export interface ListFlags extends ManagerOptions {
  readonly json?: boolean;
  readonly quiet?: boolean;
}

/** Prints a list as JSON, ids or a table; says so on stderr when the manager's list bound cut it short. */
export function printList<T extends { id: string }>(ctx: Context, flags: ListFlags, items: readonly T[], total: number, what: string, render: () => string): void {
  if (flags.json) ctx.out(json(items));
  else if (flags.quiet) ctx.out(items.map((item) => `${item.id}\n`).join(''));
  else ctx.out(render());
  if (total > items.length) ctx.err(`warren: showing ${items.length} of ${total} ${what} (the manager's bound on one list)\n`);
}

/** A group of subcommands, listed by its own --help (the program's help lists groups only). */
function group(program: Command, name: string, description: string): Command {
  return program.command(name).description(description).configureHelp({});
}

/** Registers the client commands; `setExit` takes the exit code of the command that ran. */
export function addClientCommands(program: Command, io: ClientIo, setExit: (code: Promise<number>) => void): void {
  const run: Run = (options, look, body) => setExit(execute(io, options, look, body));
  addServiceCommands(group(program, 'service', 'manage services'), run);
  addTaskCommands(group(program, 'task', 'list and inspect tasks'), run);
  addNodeCommands(group(program, 'node', 'manage nodes'), run);
  addSecretCommands(group(program, 'secret', 'manage secrets'), run, io);
  addVolumeCommands(group(program, 'volume', 'manage volumes'), run);
  addEventsCommand(program, run, io);
  const cluster = program.commands.find((c) => c.name() === 'cluster') ?? group(program, 'cluster', 'the cluster');
  cluster.configureHelp({});
  leaf(cluster, 'info', 'show the cluster: its leader, term, commit index and managers').option('--json', 'print the answer as JSON')
    .action((flags: ManagerOptions & { json?: boolean }) => run(flags, '', async (ctx) => {
      const info = await ctx.client.clusterInfo();
      ctx.out(flags.json ? json(info) : clusterInfoText(info));
    }));
  const manager = program.commands.find((c) => c.name() === 'manager') ?? group(program, 'manager', 'the managers');
  leaf(manager, 'rm <MANAGER...>', 'remove managers from the cluster (a dead one being replaced, or one retired); refused when the voters left would have no reachable majority')
    .action((ids: string[], flags: ManagerOptions) => run(flags, 'warren cluster info', async (ctx) =>
      removeEach(ctx, ids, 'warren cluster info', (id) => ctx.client.managerRemove({ id }))));
}

function clusterInfoText(info: ClusterInfoResponse): string {
  const leader = info.leader === null ? 'none (an election is under way)' : `${info.leader.id}${info.leader.apiAddress === null ? '' : ` (${info.leader.apiAddress})`}`;
  const managers = info.managers.map((m) => [`  ${m.id}`, m.apiAddress ?? '-', m.id === info.leader?.id ? 'leader' : '']);
  return [
    `Cluster ID:    ${info.clusterId}\n`,
    `Leader:        ${leader}\n`,
    `Term:          ${info.term}\n`,
    `Commit index:  ${info.commitIndex}\n`,
    `Served by:     ${info.servedBy} (applied index ${info.appliedIndex})\n`,
    `Managers:      ${info.managers.length}\n`,
    table(['  ID', 'API ADDRESS', ''], managers),
  ].join('');
}

function addTaskCommands(tasks: Command, run: Run): void {
  listOptions(leaf(tasks, 'ls', 'list tasks'), 'tasks')
    .option('--service <SERVICE>', 'only tasks of this service (id or name)')
    .option('--node <NODE>', 'only tasks on this node (id or name)')
    .addOption(new Option('--desired-state <STATE>', 'only tasks the managers want in this state').argParser(oneOf(['running', 'shutdown'] as const)))
    .option('--no-trunc', 'do not shorten error messages')
    .action((flags: ListFlags & { service?: string; node?: string; desiredState?: 'running' | 'shutdown'; trunc: boolean }) => run(flags, '', async (ctx) => {
      const answer = await ctx.client.taskList({ service: flags.service, node: flags.node, desiredState: flags.desiredState });
      await printTasks(ctx, flags, answer.tasks, answer.total);
    }));
  leaf(tasks, 'inspect <TASK...>', 'show tasks as JSON').action((ids: string[], flags: ManagerOptions) => run(flags, '', async (ctx) =>
    inspectEach(ctx, ids, async (id) => (await ctx.client.taskInspect({ id })).task)));
}

function managerStatus(node: ClusterNode, info: ClusterInfoResponse): string {
  if (info.leader?.id === node.id) return 'Leader';
  if (!info.managers.some((m) => m.id === node.id)) return '';
  return node.status === 'ready' ? 'Reachable' : 'Unreachable';
}

/** A node label as `node update --label-add` takes it: KEY=VALUE, or KEY alone for an empty value. */
function parseLabel(text: string): [string, string] {
  const [key, value] = text.includes('=') ? parseKeyValue(text) : [text, ''];
  if (!isLabelKey(key)) throw new UsageError(`--label-add ${text}: a label key must be ${labelKeyRule}`);
  if (value.length > stateLimits.labelValueChars) throw new UsageError(`--label-add ${key}: a label value is at most ${stateLimits.labelValueChars} characters, got ${value.length}`);
  return [key, value];
}

function addNodeCommands(nodes: Command, run: Run): void {
  listOptions(leaf(nodes, 'ls', 'list nodes'), 'nodes')
    .addOption(new Option('--role <ROLE>', 'only nodes of this role').argParser(oneOf(['manager', 'worker', 'hybrid'] as const)))
    .addOption(new Option('--availability <A>', 'only nodes of this availability').argParser(oneOf(['active', 'pause', 'drain'] as const)))
    .addOption(new Option('--status <STATUS>', 'only nodes in this status').argParser(oneOf(['ready', 'down', 'unknown'] as const)))
    .action((flags: ListFlags & { role?: 'manager'; availability?: 'active'; status?: 'ready' }) => run(flags, '', async (ctx) => {
      const [answer, info] = await Promise.all([ctx.client.nodeList({ role: flags.role, availability: flags.availability, status: flags.status }), ctx.client.clusterInfo()]);
      const nodes = [...answer.nodes].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
      printList(ctx, flags, nodes, answer.total, 'nodes', () => table(['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS'],
        nodes.map((n) => [n.id, n.name, capitalized(n.status), capitalized(n.availability), managerStatus(n, info)])));
    }));
  leaf(nodes, 'inspect <NODE...>', 'show nodes as JSON').action((refs: string[], flags: ManagerOptions) => run(flags, '', async (ctx) =>
    inspectEach(ctx, refs, async (id) => (await ctx.client.nodeInspect({ id })).node)));
  leaf(nodes, 'update <NODE>', 'change a node\'s availability or labels')
    .addOption(new Option('--availability <A>', 'active: takes tasks; pause: keeps its tasks, takes no new ones; drain: its tasks move elsewhere').argParser(oneOf(['active', 'pause', 'drain'] as const)))
    .addOption(new Option('--label-add <KEY=VALUE>', 'add or change a label; repeatable').argParser(collect(asIs)))
    .addOption(new Option('--label-rm <KEY>', 'remove a label; repeatable').argParser(collect(asIs)))
    .action((ref: string, flags: ManagerOptions & { availability?: 'active'; labelAdd?: string[]; labelRm?: string[] }) => run(flags, `warren node inspect ${ref}`, async (ctx) => {
      if (flags.availability === undefined && flags.labelAdd === undefined && flags.labelRm === undefined) {
        throw new UsageError('nothing to change: give --availability, --label-add or --label-rm');
      }
      const added = (flags.labelAdd ?? []).map(parseLabel);
      const node = (await ctx.client.nodeInspect({ id: ref })).node;
      let labels: Record<string, string> | undefined;
      if (flags.labelAdd !== undefined || flags.labelRm !== undefined) {
        labels = { ...node.labels };
        for (const key of flags.labelRm ?? []) {
          if (labels[key] === undefined) throw new UsageError(`--label-rm ${key}: node ${node.name} has no label "${key}" (it has: ${Object.keys(node.labels).join(', ') || 'none'})`);
          delete labels[key];
        }
        for (const [key, value] of added) labels[key] = value;
        if (Object.keys(labels).length > stateLimits.labels) throw new UsageError(`a node has at most ${stateLimits.labels} labels`);
      }
      await ctx.client.nodeUpdate({ id: node.id, version: node.version, availability: flags.availability, labels });
      ctx.out(`${ref}\n`);
    }));
  leaf(nodes, 'rm <NODE...>', 'remove nodes from the cluster (a ready node only with --force)')
    .option('-f, --force', 'remove even a ready node (its tasks are orphaned and rescheduled)')
    .action((refs: string[], flags: ManagerOptions & { force?: boolean }) => run(flags, 'warren node ls', async (ctx) =>
      removeEach(ctx, refs, 'warren node ls', (id) => ctx.client.nodeRemove({ id, force: flags.force }))));
}

/** Reads `source` up to one byte beyond the bound (enough to refuse it). */
async function readAll(source: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of source) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    chunks.push(buffer);
    bytes += buffer.length;
    if (bytes > maxSecretValueBytes) break;
  }
  return Buffer.concat(chunks);
}

async function secretValue(file: string, io: ClientIo): Promise<Buffer> {
  const source = file === '-' ? 'stdin' : file;
  let value: Buffer;
  try {
    value = file === '-' ? await readAll(io.stdin ?? process.stdin) : await readFile(file);
  } catch (error) {
    throw new UsageError(`cannot read the secret's value from ${source}: ${(error as Error).message}`);
  }
  if (value.length === 0) throw new UsageError(`${source} is empty: a secret's value is 1 to ${maxSecretValueBytes} bytes`);
  if (value.length > maxSecretValueBytes) throw new UsageError(`${source} holds more than ${maxSecretValueBytes} bytes, the bound on a secret's value`);
  return value;
}

function addSecretCommands(secrets: Command, run: Run, io: ClientIo): void {
  leaf(secrets, 'create <NAME> <FILE>', 'create a secret from the contents of FILE (- reads stdin); prints its id')
    .action((name: string, file: string, flags: ManagerOptions) => run(flags, 'warren secret ls', async (ctx) => {
      const value = await secretValue(file, io);
      ctx.out(`${(await ctx.client.secretCreate({ name, valueBase64: value.toString('base64') })).id}\n`);
    }));
  listOptions(leaf(secrets, 'ls', 'list secrets (never their values)'), 'secrets').action((flags: ListFlags) => run(flags, '', async (ctx) => {
    const answer = await ctx.client.secretList();
    const now = Date.now();
    const items = [...answer.secrets].sort((a, b) => a.name.localeCompare(b.name));
    printList(ctx, flags, items, answer.total, 'secrets', () => table(['ID', 'NAME', 'CREATED'], items.map((s) => [s.id, s.name, ago(s.createdAtUs, now)])));
  }));
  leaf(secrets, 'inspect <SECRET...>', 'show secrets\' metadata as JSON (never their values)').action((refs: string[], flags: ManagerOptions) => run(flags, '', async (ctx) =>
    inspectEach(ctx, refs, async (id) => (await ctx.client.secretInspect({ id })).secret)));
  leaf(secrets, 'rm <SECRET...>', 'remove secrets').action((refs: string[], flags: ManagerOptions) => run(flags, 'warren secret ls', async (ctx) =>
    removeEach(ctx, refs, 'warren secret ls', (id) => ctx.client.secretRemove({ id }))));
}

function addVolumeCommands(volumes: Command, run: Run): void {
  leaf(volumes, 'create <NAME>', 'create a local volume; prints its id')
    .option('--node <NODE>', 'the node that holds its data (default: where its first task is placed)')
    .action((name: string, flags: ManagerOptions & { node?: string }) => run(flags, 'warren volume ls', async (ctx) => {
      ctx.out(`${(await ctx.client.volumeCreate({ name, node: flags.node ?? null })).id}\n`);
    }));
  listOptions(leaf(volumes, 'ls', 'list volumes'), 'volumes').action((flags: ListFlags) => run(flags, '', async (ctx) => {
    const [answer, nodes] = await Promise.all([ctx.client.volumeList(), ctx.client.nodeList()]);
    const nodeName = new Map<NodeId | null, string>(nodes.nodes.map((n) => [n.id, n.name]));
    const items = [...answer.volumes].sort((a, b) => a.name.localeCompare(b.name));
    printList(ctx, flags, items, answer.total, 'volumes', () => table(['ID', 'DRIVER', 'VOLUME NAME', 'NODE'],
      items.map((v) => [v.id, v.driver, v.name, v.nodeId === null ? '' : nodeName.get(v.nodeId) ?? v.nodeId])));
  }));
  leaf(volumes, 'inspect <VOLUME...>', 'show volumes as JSON').action((refs: string[], flags: ManagerOptions) => run(flags, '', async (ctx) =>
    inspectEach(ctx, refs, async (id) => (await ctx.client.volumeInspect({ id })).volume)));
  leaf(volumes, 'rm <VOLUME...>', 'remove volumes').action((refs: string[], flags: ManagerOptions) => run(flags, 'warren volume ls', async (ctx) =>
    removeEach(ctx, refs, 'warren volume ls', (id) => ctx.client.volumeRemove({ id }))));
}

function addEventsCommand(program: Command, run: Run, io: ClientIo): void {
  leaf(program, 'events', 'stream the cluster\'s changes from now on, one line each, until interrupted (the API keeps no history: there is no --since)')
    .addOption(new Option('--type <TYPE>', `only events of this command type, e.g. service-create; repeatable (${stateCommandTypes.length} types)`).argParser(collect(oneOf(stateCommandTypes))))
    .option('--json', 'print each event as one JSON object per line')
    .addOption(new Option('--count <N>', 'stop after N events').argParser(integerIn(1, Number.MAX_SAFE_INTEGER, 'a count of events')))
    .action((flags: ManagerOptions & { type?: StateCommandType[]; json?: boolean; count?: number }) => run(flags, '', async (ctx) => {
      const stream = await ctx.client.events(flags.type === undefined ? {} : { types: [...new Set(flags.type)] });
      const stop = (): void => stream.close();
      const signals = io.interrupt === undefined ? ['SIGINT', 'SIGTERM'] as const : [];
      for (const signal of signals) process.once(signal, stop);
      if (io.interrupt?.aborted) stop();
      io.interrupt?.addEventListener('abort', stop, { once: true });
      try {
        let seen = 0;
        for await (const event of stream) {
          if (flags.json) ctx.out(`${JSON.stringify(event)}\n`);
          else {
            const [object, ...action] = event.type.split('-');
            const omitted = event.idsOmitted > 0 ? ` (+${event.idsOmitted} more)` : '';
            ctx.out(`${new Date(event.atUs / 1000).toISOString()} ${object} ${action.join('-')} ${event.ids.join(',')}${omitted} (index ${event.index})\n`);
          }
          if (flags.count !== undefined && ++seen >= flags.count) break;
        }
      } finally {
        stream.close();
        for (const signal of signals) process.off(signal, stop);
        io.interrupt?.removeEventListener('abort', stop);
      }
    }));
}
