// What the client commands (./client.ts) read from the command line and how they print: parsers for
// flag values in Docker's notations (durations like 1m30s, memory like 512M, CPUs like 0.5, K=V,
// --publish, --mount, --secret), each throwing commander's InvalidArgumentError with what was wrong
// and what is expected, so a bad value exits 2 before any call is made; aligned tables as Docker
// prints them; and Docker's human durations ("5 minutes ago").
// Invariant: parsers are pure functions of their text; nothing here talks to a manager.

import { InvalidArgumentError } from 'commander';
import type {
  HealthCheck, PortConfig, RestartCondition, SecretReference, ServiceSpec, UpdateConfig, VolumeMount,
} from '../../core/state/index.ts';

/** A problem with what the user typed, found after commander's own parsing: exits 2, nothing was sent. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The API address of a manager when neither --managers nor WARREN_MANAGERS names one (a manager's --listen default). */
export const defaultManagerAddress = '127.0.0.1:4240';

const hostPort = /^[^\s:,]+:(\d{1,5})$/;

/** `HOST:PORT[,HOST:PORT...]` (or `unix:/path` entries): the managers' client API addresses. */
export function parseManagers(text: string): string[] {
  const addresses = text.split(',').map((item) => item.trim());
  for (const address of addresses) {
    const m = hostPort.exec(address);
    const ok = address.startsWith('unix:/') || (m !== null && Number(m[1]) >= 1 && Number(m[1]) <= 65535);
    if (!ok) throw new InvalidArgumentError(`"${address}" is not HOST:PORT; expected a comma list like 10.0.0.1:4240,10.0.0.2:4240`);
  }
  if (addresses.length > 16) throw new InvalidArgumentError(`at most 16 managers, got ${addresses.length}`);
  return addresses;
}

/** `KEY=VALUE` (the value may contain '='). */
export function parseKeyValue(text: string, what = 'KEY=VALUE'): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`"${text}" is not ${what}`);
  return [text.slice(0, at), text.slice(at + 1)];
}

/** A repeatable KEY=VALUE option, collected into a record. */
export const collectKeyValue = (text: string, previous: Record<string, string> = {}): Record<string, string> => {
  const [key, value] = parseKeyValue(text);
  return { ...previous, [key]: value };
};

/** A repeatable option whose values are parsed by `parse` and collected in order. */
export const collect = <T>(parse: (text: string) => T) => (text: string, previous: T[] = []): T[] => [...previous, parse(text)];

export const asIs = (text: string): string => text;

export function integerIn(min: number, max: number, what: string): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!/^-?[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected ${what}: an integer from ${min} to ${max}`);
    }
    return value;
  };
}

export function oneOf<T extends string>(allowed: readonly T[]): (text: string) => T {
  return (text) => {
    if ((allowed as readonly string[]).includes(text)) return text as T;
    throw new InvalidArgumentError(`expected one of ${allowed.join(', ')}`);
  };
}

export function parseRatio(text: string): number {
  const value = Number(text);
  if (!/^[0-9]*\.?[0-9]+$/.test(text) || value > 1) throw new InvalidArgumentError('expected a fraction from 0 to 1, e.g. 0.2');
  return value;
}

const durationUnitsMs: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go/Docker duration (`10s`, `1m30s`, `500ms`, `1h`; `0` alone) as whole milliseconds. */
function parseDurationMs(text: string): number {
  if (text === '0') return 0;
  const expected = 'expected a duration with units, e.g. 500ms, 10s, 1m30s, 2h';
  if (!/^([0-9]*\.?[0-9]+(ns|us|µs|ms|s|m|h))+$/.test(text)) throw new InvalidArgumentError(expected);
  let ms = 0;
  for (const m of text.matchAll(/([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * durationUnitsMs[m[2]!]!;
  const rounded = Math.round(ms);
  if (Math.abs(ms - rounded) > 1e-6 || !Number.isSafeInteger(rounded)) throw new InvalidArgumentError(`${expected}, in whole milliseconds`);
  return rounded;
}

/** A duration of at most `maxMs` (the store's bound on that field). */
export function durationAtMost(maxMs: number): (text: string) => number {
  return (text) => {
    const ms = parseDurationMs(text);
    if (ms > maxMs) throw new InvalidArgumentError(`expected a duration of at most ${humanDuration(maxMs).toLowerCase()} (${maxMs} ms)`);
    return ms;
  };
}

const memoryUnits: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Docker's memory notation (`512M`, `1g`, `1.5GiB`, `1048576`; binary units) as bytes. */
export function parseMemoryBytes(text: string): number {
  const m = /^([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?$/i.exec(text);
  const bytes = m === null ? NaN : Number(m[1]) * memoryUnits[m[2]!.toLowerCase()]!;
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError('expected an amount of memory in whole bytes, e.g. 512M, 1G, 1.5G or 1048576');
  return bytes;
}

/** CPUs as a decimal (`0.5`, `2`) with at most three decimals, as thousandths of a core. */
export function parseCpuMillis(text: string): number {
  if (!/^[0-9]+(\.[0-9]{1,3})?$|^\.[0-9]{1,3}$/.test(text)) throw new InvalidArgumentError('expected CPUs as a decimal with at most 3 decimals, e.g. 0.5 or 2');
  const millis = Math.round(Number(text) * 1000);
  if (!Number.isSafeInteger(millis)) throw new InvalidArgumentError('expected a number of CPUs');
  return millis;
}

/** Splits `key=value,key,...` options of Docker's long syntax (a bare key means `true`). */
function fields(text: string, allowed: readonly string[], form: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    const at = part.indexOf('=');
    const key = (at < 0 ? part : part.slice(0, at)).trim().toLowerCase();
    if (!allowed.includes(key)) throw new InvalidArgumentError(`"${part}" is not one of ${allowed.join(', ')}; expected ${form}`);
    if (out.has(key)) throw new InvalidArgumentError(`${key} is given twice; expected ${form}`);
    out.set(key, at < 0 ? 'true' : part.slice(at + 1));
  }
  return out;
}

function bool(value: string, key: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new InvalidArgumentError(`${key} must be true or false, got "${value}"`);
}

const portNumber = (text: string | undefined, what: string, min: number): number => {
  const value = Number(text);
  if (text === undefined || !/^[0-9]+$/.test(text) || value < min || value > 65535) throw new InvalidArgumentError(`${what} must be a port from ${min} to 65535, got "${text ?? ''}"`);
  return value;
};

const publishForm = '[PUBLISHED:]TARGET[/tcp|udp] or published=P,target=T[,protocol=tcp|udp][,mode=ingress|host]';

/** `--publish`: Docker's short form `8080:80/tcp` or long form `published=8080,target=80,mode=host`. */
export function parsePublish(text: string): PortConfig {
  if (text.includes('=')) {
    const f = fields(text, ['published', 'target', 'protocol', 'mode'], publishForm);
    const protocol = f.get('protocol') ?? 'tcp';
    const mode = f.get('mode') ?? 'ingress';
    if (protocol !== 'tcp' && protocol !== 'udp') throw new InvalidArgumentError(`protocol must be tcp or udp, got "${protocol}"`);
    if (mode !== 'ingress' && mode !== 'host') throw new InvalidArgumentError(`mode must be ingress or host, got "${mode}"`);
    const published = f.has('published') ? portNumber(f.get('published'), 'published', 0) : 0;
    return { target: portNumber(f.get('target'), 'target', 1), published, protocol, mode };
  }
  const m = /^(?:([0-9]+):)?([0-9]+)(?:\/(tcp|udp))?$/.exec(text);
  if (m === null) throw new InvalidArgumentError(`"${text}" is not ${publishForm}`);
  const protocol = m[3] === 'udp' ? 'udp' : 'tcp';
  return { target: portNumber(m[2], 'target', 1), published: m[1] === undefined ? 0 : portNumber(m[1], 'published', 0), protocol, mode: 'ingress' };
}

const mountForm = '[type=volume,]source=VOLUME,target=/PATH[,readonly]';

/** `--mount`: a named volume, `source=data,target=/var/lib/data[,readonly]` (src/dst/destination/ro too). */
export function parseMount(text: string): VolumeMount {
  const f = fields(text, ['type', 'source', 'src', 'target', 'dst', 'destination', 'readonly', 'ro'], mountForm);
  const type = f.get('type') ?? 'volume';
  if (type !== 'volume') throw new InvalidArgumentError(`type must be volume (a named local volume), got "${type}"`);
  const volume = f.get('source') ?? f.get('src');
  const target = f.get('target') ?? f.get('dst') ?? f.get('destination');
  if (!volume || !target) throw new InvalidArgumentError(`"${text}" needs a source and a target; expected ${mountForm}`);
  const readOnlyText = f.get('readonly') ?? f.get('ro');
  return { volume, target, readOnly: readOnlyText === undefined ? false : bool(readOnlyText, 'readonly') };
}

/** `--secret NAME` or `--secret source=NAME,target=FILE` (the file name under the task's secrets directory). */
export function parseSecretReference(text: string): SecretReference {
  if (!text.includes('=')) return { secret: text, target: text };
  const f = fields(text, ['source', 'src', 'target'], 'NAME or source=NAME[,target=FILE]');
  const secret = f.get('source') ?? f.get('src');
  if (!secret) throw new InvalidArgumentError(`"${text}" needs a source; expected NAME or source=NAME[,target=FILE]`);
  return { secret, target: f.get('target') ?? secret };
}

/** `--placement-pref spread=node.labels.zone`. */
export function parsePreference(text: string): { spread: string } {
  const m = /^spread=(.+)$/.exec(text);
  if (m === null) throw new InvalidArgumentError('expected spread=ATTRIBUTE, e.g. spread=node.labels.zone');
  return { spread: m[1]! };
}

/** Words of a command line as a POSIX shell splits them (quotes and backslashes; no expansion). */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (c === '\\' && i + 1 < text.length && (quote === null || '"\\$`'.includes(text[i + 1]!))) {
      word = (word ?? '') + text[++i];
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote !== null) throw new InvalidArgumentError(`unterminated ${quote} quote; expected a command line like "sh -c 'exit 0'"`);
  if (word !== null) words.push(word);
  return words;
}

/** Rows under headers, columns three spaces apart as Docker's tables are, no trailing spaces. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].map((l) => `${l}\n`).join('');
}

/** Docker's units.HumanDuration: "Less than a second", "About a minute", "3 hours", "2 weeks". */
function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  const hours = Math.round(minutes / 60);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

export const ago = (atUs: number, nowMs: number): string => `${humanDuration(Math.max(0, nowMs - atUs / 1000))} ago`;

export const capitalized = (text: string): string => (text === '' ? text : text[0]!.toUpperCase() + text.slice(1));

export const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

// ---- Service specs from flags ----

/** Flags of `service create` and `service update` that set one field of the spec (undefined: not given). */
export interface SpecFlags {
  readonly replicas?: number;
  readonly entrypoint?: string[];
  readonly limitCpu?: number;
  readonly limitMemory?: number;
  readonly reserveCpu?: number;
  readonly reserveMemory?: number;
  readonly restartCondition?: RestartCondition;
  readonly restartDelay?: number;
  readonly restartMaxAttempts?: number;
  readonly restartWindow?: number;
  readonly stopGracePeriod?: number;
  readonly healthCmd?: string;
  readonly healthHttp?: { readonly port: number; readonly path: string };
  readonly healthTcp?: number;
  readonly healthInterval?: number;
  readonly healthTimeout?: number;
  readonly healthRetries?: number;
  readonly healthStartPeriod?: number;
  /** false when --no-healthcheck was given. */
  readonly healthcheck?: boolean;
  readonly [updateOrRollbackFlag: string]: unknown;
}

/** `--health-http PORT[/PATH]`. */
export function parseHttpProbe(text: string): { port: number; path: string } {
  const m = /^([0-9]+)(\/.*)?$/.exec(text);
  if (m === null) throw new InvalidArgumentError('expected PORT[/PATH], e.g. 8080/healthz');
  return { port: portNumber(m[1], 'the probe port', 1), path: m[2] ?? '/' };
}

/** Docker's healthcheck defaults. */
const healthDefaults = { intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 };

/** The spec with every single-field flag applied. */
export function withSpecFlags(spec: ServiceSpec, f: SpecFlags): ServiceSpec {
  let mode = spec.mode;
  if (f.replicas !== undefined) {
    if (mode.type === 'global') throw new UsageError('--replicas is for replicated services; a global service runs one task on every eligible node');
    mode = { type: 'replicated', replicas: f.replicas };
  }
  return {
    ...spec,
    mode,
    command: f.entrypoint ?? spec.command,
    limits: { cpuMillis: f.limitCpu ?? spec.limits.cpuMillis, memoryBytes: f.limitMemory ?? spec.limits.memoryBytes },
    reservations: { cpuMillis: f.reserveCpu ?? spec.reservations.cpuMillis, memoryBytes: f.reserveMemory ?? spec.reservations.memoryBytes },
    restartPolicy: {
      condition: f.restartCondition ?? spec.restartPolicy.condition,
      delayMs: f.restartDelay ?? spec.restartPolicy.delayMs,
      maxAttempts: f.restartMaxAttempts ?? spec.restartPolicy.maxAttempts,
      windowMs: f.restartWindow ?? spec.restartPolicy.windowMs,
    },
    update: withUpdateFlags(spec.update, f, 'update'),
    rollback: withUpdateFlags(spec.rollback, f, 'rollback'),
    healthCheck: withHealthFlags(spec.healthCheck, f),
    stopGracePeriodMs: f.stopGracePeriod ?? spec.stopGracePeriodMs,
  };
}

/** `--update-*` or `--rollback-*` flags over the current config. */
function withUpdateFlags(current: UpdateConfig, f: SpecFlags, prefix: 'update' | 'rollback'): UpdateConfig {
  const flag = <T>(name: string, value: T): T => (f[`${prefix}${name}`] as T | undefined) ?? value;
  return {
    parallelism: flag('Parallelism', current.parallelism),
    delayMs: flag('Delay', current.delayMs),
    order: flag('Order', current.order),
    monitorMs: flag('Monitor', current.monitorMs),
    maxFailureRatio: flag('MaxFailureRatio', current.maxFailureRatio),
    failureAction: flag('FailureAction', current.failureAction),
  };
}

function withHealthFlags(current: HealthCheck | null, f: SpecFlags): HealthCheck | null {
  const probes = [f.healthCmd, f.healthHttp, f.healthTcp].filter((p) => p !== undefined).length;
  const timing = [f.healthInterval, f.healthTimeout, f.healthRetries, f.healthStartPeriod].some((t) => t !== undefined);
  if (probes > 1) throw new UsageError('give at most one of --health-cmd, --health-http and --health-tcp');
  if (f.healthcheck === false) {
    if (probes > 0 || timing) throw new UsageError('--no-healthcheck cannot be combined with the other --health-* options');
    return null;
  }
  if (probes === 0 && current === null) {
    if (timing) throw new UsageError('--health-interval, --health-timeout, --health-retries and --health-start-period need a probe: give --health-cmd, --health-http or --health-tcp');
    return null;
  }
  const base = current ?? healthDefaults;
  const times = {
    intervalMs: f.healthInterval ?? base.intervalMs,
    timeoutMs: f.healthTimeout ?? base.timeoutMs,
    retries: f.healthRetries ?? base.retries,
    startPeriodMs: f.healthStartPeriod ?? base.startPeriodMs,
  };
  // A shell command, as Docker's --health-cmd (CMD-SHELL).
  if (f.healthCmd !== undefined) return { type: 'exec', command: ['/bin/sh', '-c', f.healthCmd], ...times };
  if (f.healthHttp !== undefined) return { type: 'http', port: f.healthHttp.port, path: f.healthHttp.path, ...times };
  if (f.healthTcp !== undefined) return { type: 'tcp', port: f.healthTcp, ...times };
  return { ...current!, ...times };
}

/** `--X-rm` then `--X-add` on a list; removing what is not there is an error naming what is. */
export function editList<T>(
  list: readonly T[], remove: readonly string[] | undefined, add: readonly T[] | undefined,
  keyOf: (item: T) => string, flag: string,
): T[] {
  const keys = list.map(keyOf);
  for (const key of remove ?? []) {
    if (!keys.includes(key)) throw new UsageError(`--${flag}-rm ${key}: the service has no such ${flag} (it has: ${keys.join(', ') || 'none'})`);
  }
  const dropped = new Set([...(remove ?? []), ...(add ?? []).map(keyOf)]);
  return [...list.filter((item) => !dropped.has(keyOf(item))), ...(add ?? [])];
}

/** How --publish-rm names a port: `TARGET/PROTOCOL`, or `PUBLISHED:TARGET/PROTOCOL` for a published one. */
export const portKey = (p: PortConfig): string => `${p.published === 0 ? '' : `${p.published}:`}${p.target}/${p.protocol}`;

/** --publish-rm takes what --publish takes; it names the same key. */
export const parsePortKey = (text: string): string => portKey(parsePublish(text));
