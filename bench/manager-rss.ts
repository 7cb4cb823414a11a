// `npm run bench -- manager-rss`: the memory of real managers holding 1,000 services. A 3-manager
// cluster (no workers: each service's one task stays unassigned) gets the services through the
// client API; once every manager has applied all of them and the leader's reconcile passes have made
// their tasks, each manager process's resident set size is read from /proc (VmRSS, and the peak
// VmHWM). Target: the largest below 128 MB.

import type { ApiClient } from '../adapters/grpc/api-client.ts';
import type { BenchmarkArgs } from './cli.ts';
import { integerParameters } from './parameters.ts';
import { metricTotal, processMemoryMb, RealCluster, sleep, TrackedProcess, waitFor, type ProcessMemory } from './real-cluster.ts';
import { round } from './timing.ts';

export interface ManagerRssParameters {
  readonly services: number;
  /** Concurrent ServiceCreate calls. */
  readonly concurrency: number;
  /** Pause after everything is applied, before RSS is read (reconcile passes, garbage collection). */
  readonly settleMs: number;
}

export const defaultManagerRssParameters: ManagerRssParameters = { services: 1000, concurrency: 16, settleMs: 3000 };

export function managerRssParameters(overrides: Partial<ManagerRssParameters>): ManagerRssParameters {
  return integerParameters('manager-rss', defaultManagerRssParameters, overrides);
}

export async function run(args: BenchmarkArgs, overrides: Partial<ManagerRssParameters> = {}): Promise<Record<string, unknown>> {
  const parameters = managerRssParameters(overrides);
  const cluster = await RealCluster.start({ progress: args.progress });
  try {
    const baseline = memoryOf(cluster);
    const runtimeOnly = await idleRuntimeMemory();
    const client = cluster.client({ timeoutMs: 10_000 });
    const createStartMs = performance.now();
    const retried = await createServices(client, parameters, args.progress);
    const createSeconds = round((performance.now() - createStartMs) / 1000, 1);
    for (const member of cluster.members) {
      const own = cluster.client({ addresses: [member.listen] });
      await waitFor(`manager ${member.id} to apply ${parameters.services} services`, async () => {
        const list = await own.call('ServiceList', { limit: 1 });
        return list.total >= parameters.services || undefined;
      }, 60_000, { everyMs: 200 });
      cluster.closeClient(own);
    }
    const tasks = await waitFor(`the leader to create a task per service`, async () => {
      const list = await client.call('TaskList', { limit: 1, leaderOnly: true });
      return list.total >= parameters.services ? list.total : undefined;
    }, 60_000, { everyMs: 200 });
    args.progress(`manager-rss: ${parameters.services} services and ${tasks} tasks on every manager; settling ${parameters.settleMs} ms`);
    await sleep(parameters.settleMs);
    const loaded = memoryOf(cluster);
    const heaps: Record<string, Record<string, number>> = {};
    for (const member of cluster.members) heaps[member.id] = heapOf(await cluster.metricsOf(member));
    const leader = await cluster.leader();
    const maxRssMb = Math.max(...Object.values(loaded).map((m) => m.rssMb));
    return {
      managerRss: {
        maxRssMb,
        targetMb: 128,
        leader: leader.id,
        perManager: loaded,
        beforeServicesMaxRssMb: Math.max(...Object.values(baseline).map((m) => m.rssMb)),
        idleNodeWithTsxRssMb: runtimeOnly.rssMb,
        mainThreadHeap: heaps,
      },
      services: parameters.services,
      tasks,
      createSeconds,
      createRetried: retried,
    };
  } finally {
    await cluster.stop();
  }
}

/**
 * What Node itself costs as the managers run it: an idle process that registers tsx the way
 * bin/warren.mjs does (TypeScript compiled in a loader thread) and loads nothing else.
 */
async function idleRuntimeMemory(): Promise<ProcessMemory> {
  const script = "import { register } from 'tsx/esm/api'; register(); setInterval(() => {}, 1000);";
  const idle = TrackedProcess.spawn('idle node', process.execPath, ['--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url).pathname });
  try {
    await sleep(1500);
    if (!idle.running) throw new Error(`the idle node process exited: ${idle.recentOutput()}`);
    return processMemoryMb(idle.pid);
  } finally {
    await idle.kill9();
  }
}

/** The main thread's V8 heap as the manager's own /metrics report it (prom-client's default metrics). */
function heapOf(series: ReadonlyMap<string, number>): Record<string, number> {
  const mb = (name: string): number => round(metricTotal(series, name) / (1024 * 1024), 1);
  return { usedMb: mb('nodejs_heap_size_used_bytes'), totalMb: mb('nodejs_heap_size_total_bytes'), externalMb: mb('nodejs_external_memory_bytes') };
}

function memoryOf(cluster: RealCluster): Record<string, ProcessMemory> {
  const out: Record<string, ProcessMemory> = {};
  for (const member of cluster.members) out[member.id] = processMemoryMb(member.process!.pid);
  return out;
}

/** Creates the services `concurrency` at a time; an overloaded refusal waits and retries (certainly not applied); resolves to how many were retried. */
async function createServices(client: ApiClient, parameters: ManagerRssParameters, progress: (line: string) => void): Promise<number> {
  let next = 0;
  let retried = 0;
  const worker = async (): Promise<void> => {
    while (next < parameters.services) {
      const index = next++;
      for (;;) {
        try {
          await client.call('ServiceCreate', {
            spec: { name: `svc-${index}`, image: 'process:/bin/sleep', args: ['3600'], mode: { type: 'replicated', replicas: 1 } },
          });
          break;
        } catch (error) {
          const retryAfterMs = (error as { retryAfterMs?: number | null }).retryAfterMs;
          if (typeof retryAfterMs !== 'number') throw error;
          retried++;
          await sleep(retryAfterMs);
        }
      }
      if ((index + 1) % 250 === 0) progress(`manager-rss: ${index + 1}/${parameters.services} services created`);
    }
  };
  await Promise.all(Array.from({ length: parameters.concurrency }, worker));
  return retried;
}

