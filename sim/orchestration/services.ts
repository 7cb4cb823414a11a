// The services the simulated operator runs: a handful of templates (a web front spread over zones
// with an HTTP health check, an API pinned to zone a that updates start-first, a global node agent, a
// cache and a batch service), drawn per seed for replica counts, repeated for larger runs. Updates
// roll back when new tasks fail; rollbacks always finish (failure action continue), so a converged
// cluster runs every service at its current spec. Restart policies never give up, so every slot can
// be refilled after the faults heal.

import type { HealthCheck, ServiceSpec, UpdateConfig } from '../../core/state/types.ts';
import type { Rng } from '../rng.ts';

export interface ServiceTemplateOptions {
  /** How many services to create at the start. */
  readonly services: number;
  /** A global service is made once for every this many services (at least one when any are made). */
  readonly globalEvery: number;
}

const mib = 1024 * 1024;

const update: UpdateConfig = { parallelism: 1, delayMs: 200, order: 'stop-first', monitorMs: 1_000, maxFailureRatio: 0.2, failureAction: 'rollback' };
const rollback: UpdateConfig = { parallelism: 1, delayMs: 0, order: 'stop-first', monitorMs: 500, maxFailureRatio: 0, failureAction: 'continue' };
const httpCheck: HealthCheck = { type: 'http', port: 8080, path: '/health', intervalMs: 1_000, timeoutMs: 500, retries: 3, startPeriodMs: 0 };
const execCheck: HealthCheck = { type: 'exec', command: ['redis-cli', 'ping'], intervalMs: 2_000, timeoutMs: 500, retries: 2, startPeriodMs: 500 };

function base(name: string): ServiceSpec {
  return {
    name,
    image: 'app:1',
    command: [],
    args: [],
    env: {},
    mode: { type: 'replicated', replicas: 1 },
    placement: { constraints: [], preferences: [] },
    reservations: { cpuMillis: 100, memoryBytes: 64 * mib },
    limits: { cpuMillis: 0, memoryBytes: 0 },
    ports: [],
    mounts: [],
    secrets: [],
    healthCheck: null,
    restartPolicy: { condition: 'any', delayMs: 200, maxAttempts: 0, windowMs: 0 },
    update,
    rollback,
    stopGracePeriodMs: 2_000,
  };
}

type Template = (name: string, replicas: number) => ServiceSpec;

const templates: readonly Template[] = [
  (name, replicas) => ({
    ...base(name), mode: { type: 'replicated', replicas }, healthCheck: httpCheck,
    placement: { constraints: [], preferences: [{ spread: 'node.labels.zone' }] },
  }),
  (name, replicas) => ({
    ...base(name), mode: { type: 'replicated', replicas }, placement: { constraints: ['node.labels.zone==a'], preferences: [] },
    update: { ...update, parallelism: 2, order: 'start-first' },
  }),
  (name, replicas) => ({ ...base(name), mode: { type: 'replicated', replicas }, reservations: { cpuMillis: 50, memoryBytes: 256 * mib }, healthCheck: execCheck }),
  (name, replicas) => ({ ...base(name), mode: { type: 'replicated', replicas }, reservations: { cpuMillis: 100, memoryBytes: 32 * mib } }),
];

const globalTemplate: Template = (name) => ({ ...base(name), mode: { type: 'global' }, reservations: { cpuMillis: 20, memoryBytes: 16 * mib } });
const names = ['web', 'api', 'cache', 'batch'];

/** The specs of the services to create, in order; names are unique. */
export function serviceSpecs(rng: Rng, options: ServiceTemplateOptions): ServiceSpec[] {
  const specs: ServiceSpec[] = [];
  let replicatedMade = 0;
  for (let i = 0; i < options.services; i++) {
    const suffix = options.services > names.length + 1 ? `-${i + 1}` : '';
    if (i % options.globalEvery === Math.min(2, options.globalEvery - 1)) {
      specs.push(globalTemplate(`node-agent${suffix}`, 0));
      continue;
    }
    const at = replicatedMade++ % templates.length;
    specs.push(templates[at]!(`${names[at]}${suffix}`, rng.int(1, 6)));
  }
  return specs;
}
