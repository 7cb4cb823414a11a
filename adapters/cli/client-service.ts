// `warren service ...`: create, ls, ps, inspect, update, scale, rollback, rm, with Docker's flags
// where the spec has the field (see client-format.ts for their notations), and the task table that
// `service ps` and `task ls` share (Docker's: ID NAME IMAGE NODE DESIRED STATE CURRENT STATE ERROR,
// a slot's newest task first and its older ones under it marked \_).
// Invariant: a spec is completed (create: the API's defaults; update: the current spec) and checked
// with the store's validateServiceSpec before anything is sent; update sends only changed fields,
// with the version it read, so a concurrent change is refused rather than overwritten.

import { Option, type Command } from 'commander';
import { stateLimits, validateServiceSpec, type Service, type ServiceSpec, type Task } from '../../core/state/index.ts';
import { defaultServiceSpec } from '../grpc/index.ts';
import {
  ago, asIs, capitalized, collect, collectKeyValue, durationAtMost, editList, integerIn, oneOf, parseCpuMillis, parseHttpProbe, parseMemoryBytes,
  parseMount, parsePortKey, parsePreference, parsePublish, parseRatio, parseSecretReference, portKey, shellWords, table, UsageError, withSpecFlags, type SpecFlags,
} from './client-format.ts';
import { eachTarget, inspectEach, leaf, removeEach, listOptions, printList, type Context, type ListFlags, type ManagerOptions, type Run } from './client.ts';

const duration = durationAtMost(stateLimits.durationMs);

/** The flags `service create` and `service update` share: each sets one field of the spec. */
function specOptions(c: Command): Command {
  c.addOption(new Option('--replicas <N>', 'number of tasks (replicated mode)').argParser(integerIn(0, stateLimits.replicas, 'a replica count')))
    .addOption(new Option('--entrypoint <CMD>', 'program and arguments replacing the image\'s program (words as a shell splits them)').argParser(shellWords))
    .addOption(new Option('--limit-cpu <CPUS>', 'CPU limit, e.g. 0.5').argParser(parseCpuMillis))
    .addOption(new Option('--limit-memory <BYTES>', 'memory limit, e.g. 512M').argParser(parseMemoryBytes))
    .addOption(new Option('--reserve-cpu <CPUS>', 'CPU reserved on the node, e.g. 0.25').argParser(parseCpuMillis))
    .addOption(new Option('--reserve-memory <BYTES>', 'memory reserved on the node, e.g. 256M').argParser(parseMemoryBytes))
    .addOption(new Option('--restart-condition <C>', 'restart tasks that end: none, on-failure or any').argParser(oneOf(['none', 'on-failure', 'any'] as const)))
    .addOption(new Option('--restart-delay <DURATION>', 'wait between restarts, e.g. 5s').argParser(duration))
    .addOption(new Option('--restart-max-attempts <N>', 'restarts before giving up (0: unlimited)').argParser(integerIn(0, stateLimits.restartAttempts, 'a count of attempts')))
    .addOption(new Option('--restart-window <DURATION>', 'window the attempts are counted in (0: for ever)').argParser(duration));
  for (const phase of ['update', 'rollback'] as const) {
    const actions = phase === 'update' ? ['pause', 'continue', 'rollback'] as const : ['pause', 'continue'] as const;
    c.addOption(new Option(`--${phase}-parallelism <N>`, `tasks ${phase === 'update' ? 'updated' : 'rolled back'} at once (0: all)`).argParser(integerIn(0, stateLimits.replicas, 'a count of tasks')))
      .addOption(new Option(`--${phase}-delay <DURATION>`, `wait between ${phase} batches`).argParser(duration))
      .addOption(new Option(`--${phase}-order <ORDER>`, 'stop-first or start-first').argParser(oneOf(['stop-first', 'start-first'] as const)))
      .addOption(new Option(`--${phase}-monitor <DURATION>`, 'how long a new task is watched for failure').argParser(duration))
      .addOption(new Option(`--${phase}-max-failure-ratio <RATIO>`, 'fraction of tasks that may fail, 0 to 1').argParser(parseRatio))
      .addOption(new Option(`--${phase}-failure-action <ACTION>`, `on too many failures: ${actions.join(', ')}`).argParser(oneOf(actions)));
  }
  return c
    .option('--health-cmd <CMD>', 'health probe: a shell command that exits 0 when healthy')
    .addOption(new Option('--health-http <PORT[/PATH]>', 'health probe: an HTTP GET that answers 2xx/3xx when healthy').argParser(parseHttpProbe))
    .addOption(new Option('--health-tcp <PORT>', 'health probe: a TCP connect').argParser(integerIn(1, 65535, 'a port')))
    .addOption(new Option('--health-interval <DURATION>', 'time between probes (default 30s)').argParser(duration))
    .addOption(new Option('--health-timeout <DURATION>', 'time a probe may take (default 30s)').argParser(duration))
    .addOption(new Option('--health-retries <N>', 'failures in a row that make a task unhealthy (default 3)').argParser(integerIn(1, stateLimits.healthRetries, 'a count of retries')))
    .addOption(new Option('--health-start-period <DURATION>', 'grace period after start (default 0s)').argParser(duration))
    .option('--no-healthcheck', 'no health probe')
    .addOption(new Option('--stop-grace-period <DURATION>', 'time to stop before a kill (default 10s)').argParser(durationAtMost(stateLimits.stopGracePeriodMs)));
}

interface CreateFlags extends SpecFlags, ManagerOptions {
  readonly name: string;
  readonly mode: 'replicated' | 'global';
  readonly env?: Record<string, string>;
  readonly constraint?: string[];
  readonly placementPref?: { spread: string }[];
  readonly secret?: ServiceSpec['secrets'][number][];
  readonly mount?: ServiceSpec['mounts'][number][];
  readonly publish?: ServiceSpec['ports'][number][];
}

interface UpdateFlags extends SpecFlags, ManagerOptions {
  readonly image?: string;
  readonly args?: string[];
  readonly envAdd?: Record<string, string>;
  readonly envRm?: string[];
  readonly constraintAdd?: string[];
  readonly constraintRm?: string[];
  readonly placementPrefAdd?: { spread: string }[];
  readonly placementPrefRm?: { spread: string }[];
  readonly secretAdd?: ServiceSpec['secrets'][number][];
  readonly secretRm?: string[];
  readonly mountAdd?: ServiceSpec['mounts'][number][];
  readonly mountRm?: string[];
  readonly publishAdd?: ServiceSpec['ports'][number][];
  readonly publishRm?: string[];
  readonly force?: boolean;
  readonly rollback?: boolean;
}

function checked(spec: ServiceSpec): ServiceSpec {
  const invalid = validateServiceSpec(spec);
  if (invalid !== null) throw new UsageError(`the service spec would be invalid: ${invalid.message}`);
  return spec;
}

function createSpec(image: string, args: string[], f: CreateFlags): ServiceSpec {
  const base: ServiceSpec = {
    ...defaultServiceSpec,
    name: f.name,
    image,
    args,
    env: f.env ?? {},
    mode: f.mode === 'global' ? { type: 'global' } : defaultServiceSpec.mode,
    placement: { constraints: f.constraint ?? [], preferences: f.placementPref ?? [] },
    secrets: f.secret ?? [],
    mounts: f.mount ?? [],
    ports: f.publish ?? [],
  };
  return checked(withSpecFlags(base, f));
}

function updateSpec(current: ServiceSpec, f: UpdateFlags): ServiceSpec {
  const env: Record<string, string> = { ...current.env };
  for (const key of f.envRm ?? []) {
    if (env[key] === undefined) throw new UsageError(`--env-rm ${key}: the service has no such env (it has: ${Object.keys(env).join(', ') || 'none'})`);
    delete env[key];
  }
  const spec: ServiceSpec = {
    ...withSpecFlags(current, f),
    image: f.image ?? current.image,
    args: f.args ?? current.args,
    env: { ...env, ...f.envAdd },
    placement: {
      constraints: editList(current.placement.constraints, f.constraintRm, f.constraintAdd, (c) => c, 'constraint'),
      preferences: editList(current.placement.preferences, f.placementPrefRm?.map((p) => p.spread), f.placementPrefAdd, (p) => p.spread, 'placement-pref'),
    },
    secrets: editList(current.secrets, f.secretRm, f.secretAdd, (s) => s.secret, 'secret'),
    mounts: editList(current.mounts, f.mountRm, f.mountAdd, (m) => m.target, 'mount'),
    ports: editList(current.ports, f.publishRm, f.publishAdd, portKey, 'publish'),
  };
  return checked(spec);
}

/** The flags of an update that change something (all but where to send it and --rollback itself). */
const changeFlags = (f: UpdateFlags): string[] =>
  Object.entries(f).filter(([key, value]) => value !== undefined && key !== 'managers' && key !== 'rollback' && !(key === 'healthcheck' && value === true)).map(([key]) => key);

export function addServiceCommands(service: Command, run: Run): void {
  service.enablePositionalOptions();
  const create = leaf(service, 'create <IMAGE> [ARG...]', 'create a service; ARG... are its tasks\' arguments (images for the process runtime: process:<executable>); prints its id')
    .passThroughOptions()
    .requiredOption('--name <NAME>', 'the service\'s name (a DNS label)')
    .addOption(new Option('--mode <MODE>', 'replicated (--replicas tasks) or global (one per eligible node)').argParser(oneOf(['replicated', 'global'] as const)).default('replicated'));
  specOptions(create)
    .addOption(new Option('-e, --env <KEY=VALUE>', 'an environment variable; repeatable').argParser(collectKeyValue))
    .addOption(new Option('--constraint <EXPR>', 'a placement constraint, e.g. node.labels.zone==east; repeatable').argParser(collect(asIs)))
    .addOption(new Option('--placement-pref <PREF>', 'spread tasks over a node attribute: spread=node.labels.zone; repeatable').argParser(collect(parsePreference)))
    .addOption(new Option('--secret <SECRET>', 'a secret as a file: NAME or source=NAME,target=FILE; repeatable').argParser(collect(parseSecretReference)))
    .addOption(new Option('--mount <MOUNT>', 'a volume: source=VOLUME,target=/PATH[,readonly]; repeatable').argParser(collect(parseMount)))
    .addOption(new Option('-p, --publish <PORT>', 'a port: [PUBLISHED:]TARGET[/udp] or published=P,target=T,mode=host; repeatable').argParser(collect(parsePublish)))
    .action((image: string, args: string[], flags: CreateFlags) => run(flags, 'warren service ls', async (ctx) => {
      const spec = createSpec(image, args, flags);
      ctx.out(`${(await ctx.client.serviceCreate({ spec })).id}\n`);
    }));

  listOptions(leaf(service, 'ls', 'list services with their running/desired replicas'), 'services').action((flags: ListFlags) => run(flags, '', async (ctx) => {
    const [answer, running] = await Promise.all([ctx.client.serviceList(), ctx.client.taskList({ desiredState: 'running' })]);
    const services = [...answer.services].sort((a, b) => a.spec.name.localeCompare(b.spec.name));
    printList(ctx, flags, services, answer.total, 'services', () => table(['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'], services.map((s) => {
      const tasks = running.tasks.filter((t) => t.serviceId === s.id);
      const desired = s.spec.mode.type === 'replicated' ? s.spec.mode.replicas : tasks.length;
      const up = tasks.filter((t) => t.observedState === 'running').length;
      const ports = s.spec.ports.filter((p) => p.published !== 0).map((p) => `*:${p.published}->${p.target}/${p.protocol}`).join(', ');
      return [s.id, s.spec.name, s.spec.mode.type, `${up}/${desired}`, s.spec.image, ports];
    })));
    if (running.total > running.tasks.length && !flags.quiet && !flags.json) ctx.err(`warren: replica counts are from ${running.tasks.length} of ${running.total} running tasks\n`);
  }));

  listOptions(leaf(service, 'ps <SERVICE...>', 'list the tasks of services'), 'tasks')
    .addOption(new Option('--desired-state <STATE>', 'only tasks the managers want in this state').argParser(oneOf(['running', 'shutdown'] as const)))
    .option('--no-trunc', 'do not shorten error messages')
    .action((refs: string[], flags: TaskTableFlags & { desiredState?: 'running' | 'shutdown' }) => run(flags, '', async (ctx) => {
      const tasks: Task[] = [];
      let total = 0;
      for (const ref of refs) {
        const s = (await ctx.client.serviceInspect({ id: ref })).service;
        const answer = await ctx.client.taskList({ service: s.id, desiredState: flags.desiredState });
        tasks.push(...answer.tasks);
        total += answer.total;
      }
      await printTasks(ctx, flags, tasks, total);
    }));

  leaf(service, 'inspect <SERVICE...>', 'show services as JSON').action((refs: string[], flags: ManagerOptions) => run(flags, '', async (ctx) =>
    inspectEach(ctx, refs, async (id) => (await ctx.client.serviceInspect({ id })).service)));

  specOptions(leaf(service, 'update <SERVICE>', 'change a service (a rolling update when anything but --replicas changes)'))
    .option('--image <IMAGE>', 'a new image')
    .addOption(new Option('--args <ARGS>', 'new arguments (words as a shell splits them)').argParser(shellWords))
    .addOption(new Option('--env-add <KEY=VALUE>', 'add or change an environment variable; repeatable').argParser(collectKeyValue))
    .addOption(new Option('--env-rm <KEY>', 'remove an environment variable; repeatable').argParser(collect(asIs)))
    .addOption(new Option('--constraint-add <EXPR>', 'add a placement constraint; repeatable').argParser(collect(asIs)))
    .addOption(new Option('--constraint-rm <EXPR>', 'remove a placement constraint; repeatable').argParser(collect(asIs)))
    .addOption(new Option('--placement-pref-add <PREF>', 'add spread=ATTRIBUTE; repeatable').argParser(collect(parsePreference)))
    .addOption(new Option('--placement-pref-rm <PREF>', 'remove spread=ATTRIBUTE; repeatable').argParser(collect(parsePreference)))
    .addOption(new Option('--secret-add <SECRET>', 'add a secret: NAME or source=NAME,target=FILE; repeatable').argParser(collect(parseSecretReference)))
    .addOption(new Option('--secret-rm <NAME>', 'remove a secret; repeatable').argParser(collect(asIs)))
    .addOption(new Option('--mount-add <MOUNT>', 'add a volume: source=VOLUME,target=/PATH[,readonly]; repeatable').argParser(collect(parseMount)))
    .addOption(new Option('--mount-rm <PATH>', 'remove the mount at PATH; repeatable').argParser(collect(asIs)))
    .addOption(new Option('--publish-add <PORT>', 'add a port, as --publish; repeatable').argParser(collect(parsePublish)))
    .addOption(new Option('--publish-rm <PORT>', 'remove a port, named as --publish-add names it; repeatable').argParser(collect(parsePortKey)))
    .option('--force', 'replace every task even if the spec did not change')
    .option('--rollback', 'go back to the previous spec (no other change may be given)')
    .action((ref: string, flags: UpdateFlags) => run(flags, `warren service inspect ${ref}`, async (ctx) => {
      if (flags.rollback && changeFlags(flags).length > 0) throw new UsageError(`--rollback cannot be combined with other changes (got --${changeFlags(flags).join(', --')})`);
      const current = (await ctx.client.serviceInspect({ id: ref })).service;
      if (flags.rollback) {
        await ctx.client.serviceRollback({ id: current.id, version: current.version });
      } else {
        const spec = updateSpec(current.spec, flags);
        const changed = Object.fromEntries((Object.keys(spec) as (keyof ServiceSpec)[])
          .filter((key) => JSON.stringify(spec[key]) !== JSON.stringify(current.spec[key])).map((key) => [key, spec[key]]));
        await ctx.client.serviceUpdate({ id: current.id, version: current.version, spec: changed, force: flags.force });
      }
      ctx.out(`${ref}\n`);
    }));

  leaf(service, 'scale <SERVICE=REPLICAS...>', 'set the replica count of replicated services').action((pairs: string[], flags: ManagerOptions) => run(flags, 'warren service ls', async (ctx) => {
    const scales = pairs.map(parseScale);
    return eachTarget(ctx, scales, (s) => `warren service inspect ${s.ref}`, async ({ ref, replicas }) => {
      await ctx.client.serviceScale({ id: ref, replicas });
      ctx.out(`${ref} scaled to ${replicas}\n`);
    });
  }));
  leaf(service, 'rollback <SERVICE>', 'go back to the service\'s previous spec').action((ref: string, flags: ManagerOptions) => run(flags, `warren service inspect ${ref}`, async (ctx) => {
    await ctx.client.serviceRollback({ id: ref });
    ctx.out(`${ref}\n`);
  }));
  leaf(service, 'rm <SERVICE...>', 'remove services (their tasks are shut down)').action((refs: string[], flags: ManagerOptions) => run(flags, 'warren service ls', async (ctx) =>
    removeEach(ctx, refs, 'warren service ls', (id) => ctx.client.serviceRemove({ id }))));
}

function parseScale(text: string): { ref: string; replicas: number } {
  const m = /^(.+)=([0-9]+)$/.exec(text);
  const replicas = m === null ? NaN : Number(m[2]);
  if (m === null || !Number.isSafeInteger(replicas) || replicas > stateLimits.replicas) {
    throw new UsageError(`"${text}" is not SERVICE=REPLICAS with REPLICAS from 0 to ${stateLimits.replicas}, e.g. web=3`);
  }
  return { ref: m[1]!, replicas };
}

export interface TaskTableFlags extends ListFlags {
  /** false with --no-trunc. */
  readonly trunc: boolean;
}

/** The image a task runs: its service's spec of the task's spec version, when still known. */
function imageOf(task: Task, service: Service | undefined): string {
  if (service === undefined) return '';
  if (service.specVersion === task.specVersion) return service.spec.image;
  return service.previousSpecVersion === task.specVersion ? service.previousSpec?.image ?? '' : '';
}

const shownError = (task: Task, trunc: boolean): string => {
  if (!['pending', 'failed', 'rejected', 'orphaned'].includes(task.observedState) || task.message === '') return '';
  const message = trunc && task.message.length > 60 ? `${task.message.slice(0, 57)}...` : task.message;
  return `"${message}"`;
};

/** Tasks as Docker's `service ps` shows them. */
export async function printTasks(ctx: Context, flags: TaskTableFlags, tasks: readonly Task[], total: number): Promise<void> {
  const [services, nodes] = flags.json || flags.quiet ? [null, null] : await Promise.all([ctx.client.serviceList(), ctx.client.nodeList()]);
  const serviceOf = new Map((services?.services ?? []).map((s) => [s.id as string, s]));
  const nodeName = new Map((nodes?.nodes ?? []).map((n) => [n.id as string, n.name]));
  const slotName = (t: Task) => `${serviceOf.get(t.serviceId)?.spec.name ?? t.serviceId}.${t.slot ?? t.nodeId}`;
  const sorted = [...tasks].sort((a, b) => slotName(a).localeCompare(slotName(b), undefined, { numeric: true }) || b.createdAtUs - a.createdAtUs || a.id.localeCompare(b.id));
  const now = Date.now();
  printList(ctx, flags, sorted, total, 'tasks', () => table(['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'], sorted.map((t, i) => [
    t.id,
    i > 0 && slotName(sorted[i - 1]!) === slotName(t) ? ` \\_ ${slotName(t)}` : slotName(t),
    imageOf(t, serviceOf.get(t.serviceId)),
    t.nodeId === null ? '' : nodeName.get(t.nodeId) ?? t.nodeId,
    capitalized(t.desiredState),
    `${capitalized(t.observedState)} ${ago(t.updatedAtUs, now)}`,
    shownError(t, flags.trunc),
  ])));
}
