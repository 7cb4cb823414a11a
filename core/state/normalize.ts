// Copies of validated command data holding exactly the fields of the object model: unknown fields
// that came along in a client's JSON never reach the store (or its snapshots), and the store never
// shares an object with a command that someone else still holds.

import type {
  HealthCheck, IngressRule, PortConfig, Resources, RestartPolicy, SecretReference, ServiceMode, ServiceSpec, UpdateConfig, VolumeMount,
} from './types.ts';

export const copyResources = (r: Resources): Resources => ({ cpuMillis: r.cpuMillis, memoryBytes: r.memoryBytes });

export function copyStringRecord(record: Readonly<Record<string, string>>): Record<string, string> {
  const copy: Record<string, string> = {};
  for (const key of Object.keys(record).sort()) copy[key] = record[key];
  return copy;
}

const copyMode = (m: ServiceMode): ServiceMode => (m.type === 'global' ? { type: 'global' } : { type: 'replicated', replicas: m.replicas });
const copyPort = (p: PortConfig): PortConfig => ({ target: p.target, published: p.published, protocol: p.protocol, mode: p.mode });
const copyMount = (m: VolumeMount): VolumeMount => ({ volume: m.volume, target: m.target, readOnly: m.readOnly });
const copySecret = (s: SecretReference): SecretReference => ({ secret: s.secret, target: s.target });

const copyRestart = (r: RestartPolicy): RestartPolicy => ({
  condition: r.condition,
  delayMs: r.delayMs,
  maxAttempts: r.maxAttempts,
  windowMs: r.windowMs,
});

const copyUpdate = (u: UpdateConfig): UpdateConfig => ({
  parallelism: u.parallelism,
  delayMs: u.delayMs,
  order: u.order,
  monitorMs: u.monitorMs,
  maxFailureRatio: u.maxFailureRatio,
  failureAction: u.failureAction,
});

function copyHealthCheck(h: HealthCheck | null): HealthCheck | null {
  if (h === null) return null;
  const timing = { intervalMs: h.intervalMs, timeoutMs: h.timeoutMs, retries: h.retries, startPeriodMs: h.startPeriodMs };
  switch (h.type) {
    case 'http':
      return { type: 'http', port: h.port, path: h.path, ...timing };
    case 'tcp':
      return { type: 'tcp', port: h.port, ...timing };
    case 'exec':
      return { type: 'exec', command: [...h.command], ...timing };
  }
}

/** A copy of a validated spec with exactly the fields of ServiceSpec. */
export function normalizeServiceSpec(spec: ServiceSpec): ServiceSpec {
  return {
    name: spec.name,
    image: spec.image,
    command: [...spec.command],
    args: [...spec.args],
    env: copyStringRecord(spec.env),
    mode: copyMode(spec.mode),
    placement: {
      constraints: [...spec.placement.constraints],
      preferences: spec.placement.preferences.map((p) => ({ spread: p.spread })),
    },
    reservations: copyResources(spec.reservations),
    limits: copyResources(spec.limits),
    ports: spec.ports.map(copyPort),
    mounts: spec.mounts.map(copyMount),
    secrets: spec.secrets.map(copySecret),
    healthCheck: copyHealthCheck(spec.healthCheck),
    restartPolicy: copyRestart(spec.restartPolicy),
    update: copyUpdate(spec.update),
    rollback: copyUpdate(spec.rollback),
    stopGracePeriodMs: spec.stopGracePeriodMs,
  };
}

export const copyIngressRule = (r: IngressRule): IngressRule => ({ host: r.host, pathPrefix: r.pathPrefix, service: r.service, port: r.port });
