// Validation of a service spec on its own, without the cluster state (the CLI and the API run it on
// user input before anything is proposed). References to other objects (secrets and volumes by
// name) are checked against the state by validate-services.ts. Every rule has an explicit bound
// from limits.ts; the first error found is returned.

import {
  checkArray, checkBoolean, checkDnsLabel, checkEach, checkEnum, checkInteger, checkNumber, checkObjectName,
  checkRecord, checkResources, checkString, describe, isRecord, type Check,
} from './checks.ts';
import { isConstraint, parseConstraint, parseSpread } from './constraints.ts';
import { invalidArgument, isStateError } from './errors.ts';
import { stateLimits as limits } from './limits.ts';

const durationMax = limits.durationMs;
const checkDuration = (value: unknown, path: string, min = 0): Check => checkInteger(value, path, min, durationMax);

/** Null when `spec` is a valid ServiceSpec, else the first thing wrong with it. */
export function validateServiceSpec(spec: unknown): Check {
  if (!isRecord(spec)) return invalidArgument(`spec must be an object, got ${describe(spec)}`);
  return (
    checkDnsLabel(spec.name, 'name') ??
    checkImage(spec.image) ??
    checkStringList(spec.command, 'command') ??
    checkStringList(spec.args, 'args') ??
    checkEnv(spec.env) ??
    checkMode(spec.mode) ??
    checkPlacement(spec.placement) ??
    checkResourceSpec(spec.reservations, spec.limits) ??
    checkPorts(spec.ports) ??
    checkMounts(spec.mounts, spec.mode) ??
    checkSecretReferences(spec.secrets) ??
    checkHealthCheck(spec.healthCheck) ??
    checkRestartPolicy(spec.restartPolicy) ??
    checkUpdateConfig(spec.update, 'update') ??
    checkUpdateConfig(spec.rollback, 'rollback') ??
    checkInteger(spec.stopGracePeriodMs, 'stopGracePeriodMs', 0, limits.stopGracePeriodMs)
  );
}

function checkImage(image: unknown): Check {
  return checkString(image, 'image', limits.imageChars, false) ??
    (/\s/.test(image as string) ? invalidArgument(`image must not contain whitespace, got ${describe(image)}`) : null);
}

function checkStringList(value: unknown, path: string): Check {
  return checkArray(value, path, limits.commandArgs) ??
    checkEach(value as unknown[], (item, i) => checkString(item, `${path}[${i}]`, limits.argChars));
}

function checkEnv(env: unknown): Check {
  if (!isRecord(env)) return invalidArgument(`env must be an object of string values, got ${describe(env)}`);
  const keys = Object.keys(env).sort();
  if (keys.length > limits.envEntries) return invalidArgument(`env must have at most ${limits.envEntries} entries, got ${keys.length}`);
  for (const key of keys) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      return invalidArgument(`env name ${describe(key)} is invalid: expected letters, digits and '_', not starting with a digit`);
    }
    const error = checkString(env[key], `env.${key}`, limits.envValueChars);
    if (error !== null) return error;
  }
  return null;
}

function checkMode(mode: unknown): Check {
  if (!isRecord(mode)) return invalidArgument(`mode must be { type: 'replicated', replicas } or { type: 'global' }, got ${describe(mode)}`);
  if (mode.type === 'global') return null;
  if (mode.type !== 'replicated') return invalidArgument(`mode.type must be replicated or global, got ${describe(mode.type)}`);
  return checkInteger(mode.replicas, 'replicas', 0, limits.replicas);
}

function checkPlacement(placement: unknown): Check {
  if (!isRecord(placement)) return invalidArgument(`placement must be an object { constraints, preferences }, got ${describe(placement)}`);
  const { constraints, preferences } = placement;
  return (
    checkArray(constraints, 'placement.constraints', limits.constraints) ??
    checkEach(constraints as unknown[], (item, i) => {
      const error = checkString(item, `placement.constraints[${i}]`, limits.constraintChars, false);
      if (error !== null) return error;
      const parsed = parseConstraint(item as string);
      return isConstraint(parsed) ? null : parsed;
    }) ??
    checkArray(preferences, 'placement.preferences', limits.preferences) ??
    checkEach(preferences as unknown[], (item, i) => {
      const path = `placement.preferences[${i}].spread`;
      if (!isRecord(item) || typeof item.spread !== 'string') return invalidArgument(`${path} must be a string, got ${describe(item)}`);
      const parsed = parseSpread(item.spread);
      return isStateError(parsed) ? parsed : null;
    })
  );
}

function checkResourceSpec(reservations: unknown, resourceLimits: unknown): Check {
  const error = checkResources(reservations, 'reservations') ?? checkResources(resourceLimits, 'limits');
  if (error !== null) return error;
  const reserved = reservations as Record<string, number>;
  const limit = resourceLimits as Record<string, number>;
  for (const field of ['cpuMillis', 'memoryBytes']) {
    if (limit[field] !== 0 && limit[field] < reserved[field]) {
      return invalidArgument(`limits.${field} (${limit[field]}) must be 0 (no limit) or at least reservations.${field} (${reserved[field]})`);
    }
  }
  return null;
}

function checkPorts(ports: unknown): Check {
  const error = checkArray(ports, 'ports', limits.ports) ?? checkEach(ports as unknown[], checkPort);
  if (error !== null) return error;
  const published = new Set<string>();
  for (const port of ports as { published: number; protocol: string }[]) {
    if (port.published === 0) continue;
    const key = `${port.published}/${port.protocol}`;
    if (published.has(key)) return invalidArgument(`published port ${key} appears twice: each published port/protocol may be used once`);
    published.add(key);
  }
  return null;
}

function checkPort(port: unknown, i: number): Check {
  const path = `ports[${i}]`;
  if (!isRecord(port)) return invalidArgument(`${path} must be an object { target, published, protocol, mode }, got ${describe(port)}`);
  return (
    checkInteger(port.target, `${path}.target`, 1, 65535) ??
    checkInteger(port.published, `${path}.published`, 0, 65535) ??
    checkEnum(port.protocol, `${path}.protocol`, ['tcp', 'udp']) ??
    checkEnum(port.mode, `${path}.mode`, ['ingress', 'host']) ??
    (port.mode === 'host' && port.published === 0
      ? invalidArgument(`${path}.published must be from 1 to 65535 in host mode (the port is reserved on the node), got 0`)
      : null)
  );
}

function checkMounts(mounts: unknown, mode: unknown): Check {
  const error = checkArray(mounts, 'mounts', limits.mounts) ?? checkEach(mounts as unknown[], checkMount);
  if (error !== null) return error;
  const list = mounts as { volume: string; target: string }[];
  if (list.length > 0 && isRecord(mode) && mode.type === 'global') {
    return invalidArgument(`a global service cannot mount volume "${list[0].volume}": a local volume lives on one node`);
  }
  return duplicate(list.map((m) => m.target), 'mounts', 'target');
}

function checkMount(mount: unknown, i: number): Check {
  const path = `mounts[${i}]`;
  if (!isRecord(mount)) return invalidArgument(`${path} must be an object { volume, target, readOnly }, got ${describe(mount)}`);
  return (
    checkObjectName(mount.volume, `${path}.volume`) ??
    checkAbsolutePath(mount.target, `${path}.target`) ??
    checkBoolean(mount.readOnly, `${path}.readOnly`)
  );
}

function checkSecretReferences(secrets: unknown): Check {
  const error = checkArray(secrets, 'secrets', limits.secretReferences) ?? checkEach(secrets as unknown[], checkSecretReference);
  return error ?? duplicate((secrets as { target: string }[]).map((s) => s.target), 'secrets', 'target');
}

function checkSecretReference(reference: unknown, i: number): Check {
  const path = `secrets[${i}]`;
  if (!isRecord(reference)) return invalidArgument(`${path} must be an object { secret, target }, got ${describe(reference)}`);
  return checkObjectName(reference.secret, `${path}.secret`) ?? checkObjectName(reference.target, `${path}.target`);
}

function checkAbsolutePath(value: unknown, path: string): Check {
  const error = checkString(value, path, limits.pathChars, false);
  if (error !== null) return error;
  const text = value as string;
  if (!text.startsWith('/') || text.split('/').includes('..')) {
    return invalidArgument(`${path} must be an absolute path without '..', got ${describe(text)}`);
  }
  return null;
}

function duplicate(values: readonly string[], list: string, field: string): Check {
  const seen = new Set<string>();
  for (const value of values) {
    if (seen.has(value)) return invalidArgument(`${list}: ${field} ${describe(value)} appears twice; each ${field} must be unique`);
    seen.add(value);
  }
  return null;
}

function checkHealthCheck(check: unknown): Check {
  if (check === null) return null;
  if (!isRecord(check)) return invalidArgument(`healthCheck must be null or an object, got ${describe(check)}`);
  const path = 'healthCheck';
  const common =
    checkDuration(check.intervalMs, `${path}.intervalMs`, 1) ??
    checkDuration(check.timeoutMs, `${path}.timeoutMs`, 1) ??
    checkInteger(check.retries, `${path}.retries`, 1, limits.healthRetries) ??
    checkDuration(check.startPeriodMs, `${path}.startPeriodMs`);
  if (common !== null) return common;
  if ((check.timeoutMs as number) > (check.intervalMs as number)) {
    return invalidArgument(`${path}.timeoutMs (${check.timeoutMs}) must not exceed ${path}.intervalMs (${check.intervalMs})`);
  }
  switch (check.type) {
    case 'http':
      return checkInteger(check.port, `${path}.port`, 1, 65535) ?? checkString(check.path, `${path}.path`, limits.pathChars, false) ??
        ((check.path as string).startsWith('/') ? null : invalidArgument(`${path}.path must start with '/', got ${describe(check.path)}`));
    case 'tcp':
      return checkInteger(check.port, `${path}.port`, 1, 65535);
    case 'exec':
      return checkStringList(check.command, `${path}.command`) ??
        ((check.command as unknown[]).length === 0 ? invalidArgument(`${path}.command must not be empty`) : null);
    default:
      return invalidArgument(`${path}.type must be one of http, tcp, exec; got ${describe(check.type)}`);
  }
}

function checkRestartPolicy(policy: unknown): Check {
  const path = 'restartPolicy';
  return (
    checkRecord(policy, path) ??
    checkEnum((policy as Record<string, unknown>).condition, `${path}.condition`, ['none', 'on-failure', 'any']) ??
    checkDuration((policy as Record<string, unknown>).delayMs, `${path}.delayMs`) ??
    checkInteger((policy as Record<string, unknown>).maxAttempts, `${path}.maxAttempts`, 0, limits.restartAttempts) ??
    checkDuration((policy as Record<string, unknown>).windowMs, `${path}.windowMs`)
  );
}

function checkUpdateConfig(config: unknown, path: 'update' | 'rollback'): Check {
  const error = checkRecord(config, path);
  if (error !== null) return error;
  const c = config as Record<string, unknown>;
  const actions = path === 'update' ? ['pause', 'continue', 'rollback'] : ['pause', 'continue'];
  return (
    checkInteger(c.parallelism, `${path}.parallelism`, 0, limits.replicas) ??
    checkDuration(c.delayMs, `${path}.delayMs`) ??
    checkEnum(c.order, `${path}.order`, ['stop-first', 'start-first']) ??
    checkDuration(c.monitorMs, `${path}.monitorMs`) ??
    checkNumber(c.maxFailureRatio, `${path}.maxFailureRatio`, 0, 1) ??
    checkEnum(c.failureAction, `${path}.failureAction`, actions)
  );
}
