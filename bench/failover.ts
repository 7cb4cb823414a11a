// `npm run bench -- failover`: how long a real 3-manager cluster stops taking writes when its leader
// is killed. Clients write continuously (SecretCreate then SecretRemove, through an ApiClient given
// every manager, which moves on to another manager when a call certainly did not take effect; a
// failed write is tried again after a short pause). Each trial kills the leader with SIGKILL at a
// random moment and measures from the kill to the acknowledgement of the first write that was sent
// after the kill; then restarts the killed manager with `manager start` and waits until it has
// applied everything the leader had committed before the next trial.
// A trial with no acknowledged write within its bound counts with the bound as its time (a lower
// bound of the real one) and is reported as timed out, so that p99 and max never hide it.

import { randomBytes } from 'node:crypto';
import type { ApiClient } from '../adapters/grpc/api-client.ts';
import type { BenchmarkArgs } from './cli.ts';
import { integerParameters } from './parameters.ts';
import { failureName, secretWriter } from './raft-real.ts';
import { RealCluster, sleep, waitFor } from './real-cluster.ts';
import { percentile } from './sim.ts';

export interface FailoverParameters {
  readonly trials: number;
  /** Concurrent writing clients, each one call in flight. */
  readonly writers: number;
  /** Bound on one call's attempt (a call to a killed manager may hang until it). */
  readonly callTimeoutMs: number;
  /** Pause after a failed write before the next. */
  readonly retryPauseMs: number;
  /** A trial without an acknowledged write this long after the kill has timed out. */
  readonly trialTimeoutMs: number;
  /** Writes flow for at least this long (plus a random part as long) before each kill. */
  readonly steadyMs: number;
}

export const defaultFailoverParameters: FailoverParameters = {
  trials: 20,
  writers: 2,
  callTimeoutMs: 2000,
  retryPauseMs: 5,
  trialTimeoutMs: 10_000,
  steadyMs: 300,
};

export function failoverParameters(overrides: Partial<FailoverParameters>): FailoverParameters {
  return integerParameters('failover', defaultFailoverParameters, overrides);
}

interface Ack {
  readonly sentMs: number;
  readonly ackedMs: number;
  readonly servedBy: string;
}

interface Trial {
  readonly trial: number;
  readonly killed: string;
  readonly newLeader: string | null;
  readonly failoverMs: number;
  readonly timedOut: boolean;
  /** Failed writes between the kill and the first acknowledged one, by status. */
  readonly failuresDuringFailover: Readonly<Record<string, number>>;
  /** Terms the election took (new leader's term minus the killed one's): above 1, a split vote or a failed round. */
  readonly electionTerms: number | null;
  /** From `manager start` to having applied the leader's commit index. */
  readonly rejoinMs: number;
}

/** Clients writing until stopped; every acknowledgement and failure is recorded with its times. */
class Writers {
  readonly acks: Ack[] = [];
  readonly failures: { readonly atMs: number; readonly name: string }[] = [];
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(clients: readonly ApiClient[], retryPauseMs: number) {
    const value = randomBytes(192).toString('base64'); // 256 characters
    this.loops = clients.map(async (client, index) => {
      const write = secretWriter(client, `failover-${index}`, value);
      while (this.running) {
        const sentMs = performance.now();
        try {
          const servedBy = await write();
          this.acks.push({ sentMs, ackedMs: performance.now(), servedBy });
        } catch (error) {
          this.failures.push({ atMs: performance.now(), name: failureName(error) });
          await sleep(retryPauseMs);
        }
      }
    });
  }

  /** Forgets what was recorded before `ms` (the lists stay bounded across trials). */
  forgetBefore(ms: number): void {
    const keepAcks = this.acks.filter((a) => a.ackedMs >= ms);
    this.acks.splice(0, this.acks.length, ...keepAcks);
    const keepFailures = this.failures.filter((f) => f.atMs >= ms);
    this.failures.splice(0, this.failures.length, ...keepFailures);
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

export async function run(args: BenchmarkArgs, overrides: Partial<FailoverParameters> = {}): Promise<Record<string, unknown>> {
  const parameters = failoverParameters(overrides);
  const cluster = await RealCluster.start({ progress: args.progress });
  let writers: Writers | null = null;
  try {
    const clients = Array.from({ length: parameters.writers }, () => cluster.client({ timeoutMs: parameters.callTimeoutMs, connectTimeoutMs: 500 }));
    writers = new Writers(clients, parameters.retryPauseMs);
    const trials: Trial[] = [];
    for (let trial = 1; trial <= parameters.trials; trial++) {
      trials.push(await runTrial(trial, cluster, writers, parameters));
      const last = trials.at(-1)!;
      args.progress(`failover: trial ${trial}/${parameters.trials}: killed ${last.killed}, ${last.failoverMs} ms to the first acknowledged write (${last.newLeader ?? 'none'} served it)${last.timedOut ? ' TIMED OUT' : ''}; election took ${String(last.electionTerms)} term(s); rejoined in ${last.rejoinMs} ms`);
    }
    await writers.stop();
    writers = null;
    const samplesMs = trials.map((t) => t.failoverMs);
    return {
      failover: {
        p50Ms: percentile(samplesMs, 0.5),
        p99Ms: percentile(samplesMs, 0.99),
        maxMs: Math.max(...samplesMs),
        minMs: Math.min(...samplesMs),
        trials: trials.length,
        timedOut: trials.filter((t) => t.timedOut).length,
        targetP99Ms: 1000,
        samplesMs,
        trialsWithMoreThanOneElectionTerm: trials.filter((t) => (t.electionTerms ?? 0) > 1).length,
      },
      rejoinMs: { p50: percentile(trials.map((t) => t.rejoinMs), 0.5), max: Math.max(...trials.map((t) => t.rejoinMs)) },
      managers: cluster.members.length,
      writers: parameters.writers,
      callTimeoutMs: parameters.callTimeoutMs,
      retryPauseMs: parameters.retryPauseMs,
      trialDetails: trials,
    };
  } finally {
    await writers?.stop();
    await cluster.stop();
  }
}

async function runTrial(trial: number, cluster: RealCluster, writers: Writers, parameters: FailoverParameters): Promise<Trial> {
  const leader = await cluster.leader();
  const steadyFromMs = performance.now();
  writers.forgetBefore(steadyFromMs);
  await waitFor('writes to flow before the kill', () => (writers.acks.length >= 5 || undefined), 20_000);
  await sleep(parameters.steadyMs + Math.random() * parameters.steadyMs);
  const termBefore = (await cluster.infoOf(leader)).term;
  const killMs = performance.now();
  await cluster.kill9(leader.id);
  let first: Ack | undefined;
  try {
    first = await waitFor('a write sent after the kill to be acknowledged', () => writers.acks.find((a) => a.sentMs >= killMs), parameters.trialTimeoutMs, { everyMs: 5 });
  } catch {
    first = undefined;
  }
  const failuresDuringFailover: Record<string, number> = {};
  const endMs = first?.ackedMs ?? killMs + parameters.trialTimeoutMs;
  for (const failure of writers.failures) {
    if (failure.atMs >= killMs && failure.atMs <= endMs) failuresDuringFailover[failure.name] = (failuresDuringFailover[failure.name] ?? 0) + 1;
  }
  const newLeader = first === undefined ? null : cluster.member(first.servedBy);
  const termAfter = newLeader === null ? null : (await cluster.infoOf(newLeader)).term;
  const rejoinStartMs = performance.now();
  await cluster.restart(leader.id);
  await cluster.waitCaughtUp(leader.id);
  return {
    trial,
    killed: leader.id,
    newLeader: first?.servedBy ?? null,
    failoverMs: Math.round(first === undefined ? parameters.trialTimeoutMs : first.ackedMs - killMs),
    timedOut: first === undefined,
    failuresDuringFailover,
    electionTerms: termAfter === null ? null : termAfter - termBefore,
    rejoinMs: Math.round(performance.now() - rejoinStartMs),
  };
}
