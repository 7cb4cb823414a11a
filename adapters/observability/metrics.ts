// The daemon's Prometheus metrics (DESIGN.md, "Ports": metrics). One prom-client Registry per
// DaemonMetrics, never the global one, so several daemons can live in one test process; the process
// metrics prom-client collects by default; and Warren's own metrics, named by Prometheus convention
// (warren_ prefix, base units, _total counters, _seconds histograms).
//
// Two ways in. Push: typed methods the daemon calls as things happen (latencies, request durations).
// Pull: collectFrom(sources) registers callbacks for state that already lives elsewhere (the Raft
// node's status, task counts from the store, the WAL's counters, the transport's counters), sampled
// once per scrape by scrape(). The same set* methods serve both, so a daemon may also push them.
// Invariants:
//   - scrape() samples each source once, so one scrape is one consistent view per source;
//   - a failing source (it throws, or its sample is refused) never fails the scrape: its metrics
//     keep their last values and warren_metrics_source_errors_total{source} counts the failure;
//   - every label takes its values from a bounded set: Raft roles, task states, drop causes and the
//     configured peers (the transport's own set, re-read each scrape so removed peers disappear);
//     API methods are capped at maxApiMethods distinct values, later ones are labelled "other".

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Role } from '../../core/raft/index.ts';
import { taskStates, type TaskState } from '../../core/state/index.ts';
import type { DropCause, InboundPeerStats, PeerStats } from '../grpc/index.ts';
import { FSYNC_BUCKETS_MS, type StorageMetrics, type StorageState } from '../storage/index.ts';
import { millisecondsToSeconds, SampledHistogram } from './sampled-histogram.ts';

/** What the Raft gauges show; core/raft's NodeStatus fits as is. */
export interface RaftSample {
  readonly term: number;
  readonly role: Role;
  readonly leader: string | null;
  readonly commit: number;
  readonly applied: number;
}

/** Tasks per observed state; states left out count as 0. */
export type TaskCounts = Readonly<Partial<Record<TaskState, number>>>;

/** From the WAL: `{ metrics: storage.metrics(), state: storage.status().state }`. */
export interface StorageSample {
  readonly metrics: StorageMetrics;
  readonly state: StorageState;
}

/** From the Raft transport; its stats() fits as is. */
export interface TransportSample {
  readonly outbound: Readonly<Record<string, Pick<PeerStats, 'state' | 'sentMessages' | 'sentBytes' | 'drops'>>>;
  readonly peers: Readonly<Record<string, Pick<InboundPeerStats, 'receivedMessages' | 'receivedBytes'>>>;
}

/** Callbacks sampled at scrape time. Leave out what this node does not have (a worker has no Raft). */
export interface MetricsSources {
  readonly raft?: () => RaftSample;
  readonly tasks?: () => TaskCounts;
  readonly storage?: () => StorageSample;
  readonly transport?: () => TransportSample;
}

export interface DaemonMetricsOptions {
  /** Added as the node_id label of every metric. */
  readonly nodeId?: string;
  /** prom-client's process and Node.js metrics (CPU, memory, event loop lag, GC). Default true. */
  readonly processMetrics?: boolean;
  /** Bound on distinct API method label values. Default 256. */
  readonly maxApiMethods?: number;
}

const raftRoleSet: Record<Role, true> = { follower: true, 'pre-candidate': true, candidate: true, leader: true };
/** Every Raft role, so the role gauge is one-hot over all of them (a new Role fails to compile above). */
export const raftRoles = Object.keys(raftRoleSet) as Role[];

const dropCauseSet: Record<DropCause, true> = { overflow: true, oversize: true, unencodable: true, 'stream-failed': true, closed: true };
const dropCauses = Object.keys(dropCauseSet) as DropCause[];

/** Histogram upper bounds, in seconds. */
export const buckets = {
  commitLatency: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  applyLatency: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  apiRequest: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  schedulerPass: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
  schedulingLatency: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  walFsync: FSYNC_BUCKETS_MS.map(millisecondsToSeconds),
} as const;

export const OTHER_API_METHOD = 'other';
type SourceName = keyof MetricsSources;

export class DaemonMetrics {
  readonly registry = new Registry();
  private sources: MetricsSources = {};
  private readonly maxApiMethods: number;
  private readonly apiMethods = new Set<string>();

  private readonly raftTerm: Gauge;
  private readonly raftRole: Gauge<'role'>;
  private readonly raftHasLeader: Gauge;
  private readonly raftCommitIndex: Gauge;
  private readonly raftAppliedIndex: Gauge;
  private readonly raftCommitLatency: Histogram;
  private readonly raftApplyLatency: Histogram;
  private readonly apiRequestDuration: Histogram<'method' | 'code'>;
  private readonly schedulerPassDuration: Histogram;
  private readonly schedulingLatency: Histogram;
  private readonly tasks: Gauge<'state'>;
  private readonly walFsyncDuration: SampledHistogram;
  private readonly walDiskFull: Gauge;
  private readonly walAppends: Counter;
  private readonly walBytesWritten: Counter;
  private readonly walSnapshotsSaved: Counter;
  private readonly transportSent: Counter<'peer'>;
  private readonly transportSentBytes: Counter<'peer'>;
  private readonly transportReceived: Counter<'peer'>;
  private readonly transportReceivedBytes: Counter<'peer'>;
  private readonly transportDropped: Counter<'peer' | 'cause'>;
  private readonly transportPeerConnected: Gauge<'peer'>;
  private readonly sourceErrors: Counter<'source'>;

  constructor(options: DaemonMetricsOptions = {}) {
    this.maxApiMethods = options.maxApiMethods ?? 256;
    if (!Number.isInteger(this.maxApiMethods) || this.maxApiMethods < 1) throw new Error(`maxApiMethods must be a positive integer, got ${options.maxApiMethods}`);
    if (options.nodeId !== undefined) this.registry.setDefaultLabels({ node_id: options.nodeId });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const gauge = <L extends string = never>(name: string, help: string, labelNames: L[] = []) => new Gauge<L>({ name, help, labelNames, registers });
    const counter = <L extends string = never>(name: string, help: string, labelNames: L[] = []) => new Counter<L>({ name, help, labelNames, registers });
    const histogram = <L extends string = never>(name: string, help: string, bounds: readonly number[], labelNames: L[] = []) =>
      new Histogram<L>({ name, help, labelNames, buckets: [...bounds], registers });

    this.raftTerm = gauge('warren_raft_term', 'Current Raft term of this node.');
    this.raftRole = gauge('warren_raft_role', 'Raft role of this node: 1 for the current role, 0 for the others.', ['role']);
    this.raftHasLeader = gauge('warren_raft_has_leader', '1 when this node knows a Raft leader (itself included), else 0.');
    this.raftCommitIndex = gauge('warren_raft_commit_index', 'Highest Raft log index known to be committed.');
    this.raftAppliedIndex = gauge('warren_raft_applied_index', 'Highest Raft log index applied to the cluster store.');
    this.raftCommitLatency = histogram('warren_raft_commit_latency_seconds', 'Time from proposing an entry on the leader to its commit.', buckets.commitLatency);
    this.raftApplyLatency = histogram('warren_raft_apply_latency_seconds', 'Time from an entry being committed to its apply on this node.', buckets.applyLatency);
    this.apiRequestDuration = histogram('warren_api_request_duration_seconds', 'API request durations by method and status code.', buckets.apiRequest, ['method', 'code']);
    this.schedulerPassDuration = histogram('warren_scheduler_pass_duration_seconds', 'Duration of one reconcile and scheduling pass on the leader.', buckets.schedulerPass);
    this.schedulingLatency = histogram('warren_scheduling_latency_seconds', 'Time from a task being created to its assignment to a node.', buckets.schedulingLatency);
    this.tasks = gauge('warren_tasks', 'Tasks in the cluster store by observed state.', ['state']);
    this.walFsyncDuration = new SampledHistogram('warren_wal_fsync_duration_seconds', 'Latency of the WAL group-commit fsyncs.', buckets.walFsync, this.registry);
    this.walDiskFull = gauge('warren_wal_disk_full', '1 while the WAL refuses writes because its disk is full, else 0.');
    this.walAppends = counter('warren_wal_appends_total', 'Appends the WAL acknowledged (since it was opened).');
    this.walBytesWritten = counter('warren_wal_written_bytes_total', 'Bytes the WAL wrote to segments (since it was opened).');
    this.walSnapshotsSaved = counter('warren_wal_snapshots_saved_total', 'Snapshots saved (since the WAL was opened).');
    this.transportSent = counter('warren_raft_transport_sent_messages_total', 'Raft messages whose write to the peer completed.', ['peer']);
    this.transportSentBytes = counter('warren_raft_transport_sent_bytes_total', 'Raft frame bytes written to the peer.', ['peer']);
    this.transportReceived = counter('warren_raft_transport_received_messages_total', 'Raft messages received from the peer.', ['peer']);
    this.transportReceivedBytes = counter('warren_raft_transport_received_bytes_total', 'Raft frame bytes received from the peer.', ['peer']);
    this.transportDropped = counter('warren_raft_transport_dropped_messages_total', 'Raft messages for the peer that were not sent, by cause.', ['peer', 'cause']);
    this.transportPeerConnected = gauge('warren_raft_transport_peer_connected', '1 while the outbound stream to the peer is connected, else 0.', ['peer']);
    this.sourceErrors = counter('warren_metrics_source_errors_total', 'Scrape-time metric sources that threw (their metrics kept their last values).', ['source']);
  }

  /** Registers the callbacks sampled by each scrape; given ones replace earlier ones of the same name. */
  collectFrom(sources: MetricsSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  /** Samples every source once. scrape() calls it; call it directly to read gauges without a scrape. */
  refresh(): void {
    const { raft, tasks, storage, transport } = this.sources;
    if (raft) this.sampleFrom('raft', raft, (sample) => this.setRaft(sample));
    if (tasks) this.sampleFrom('tasks', tasks, (sample) => this.setTaskCounts(sample));
    if (storage) this.sampleFrom('storage', storage, (sample) => this.setStorage(sample));
    if (transport) this.sampleFrom('transport', transport, (sample) => this.setTransport(sample));
  }

  /** The exposition text of one scrape, sources sampled first. */
  async scrape(): Promise<string> {
    this.refresh();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  // ---- push: events as they happen ----

  observeCommitLatency(seconds: number): void {
    this.raftCommitLatency.observe(seconds);
  }

  observeApplyLatency(seconds: number): void {
    this.raftApplyLatency.observe(seconds);
  }

  /** method: the API method (a gRPC path or an HTTP route, never a raw URL); code: its status code. */
  observeApiRequest(method: string, code: string | number, seconds: number): void {
    this.apiRequestDuration.observe({ method: this.boundedMethod(method), code: String(code) }, seconds);
  }

  observeSchedulerPass(seconds: number): void {
    this.schedulerPassDuration.observe(seconds);
  }

  observeSchedulingLatency(seconds: number): void {
    this.schedulingLatency.observe(seconds);
  }

  // ---- state: pushed, or sampled from the sources at scrape time ----

  setRaft(sample: RaftSample): void {
    this.raftTerm.set(sample.term);
    for (const role of raftRoles) this.raftRole.set({ role }, role === sample.role ? 1 : 0);
    this.raftHasLeader.set(sample.leader === null ? 0 : 1);
    this.raftCommitIndex.set(sample.commit);
    this.raftAppliedIndex.set(sample.applied);
  }

  setTaskCounts(counts: TaskCounts): void {
    for (const state of taskStates) this.tasks.set({ state }, counts[state] ?? 0);
  }

  setStorage(sample: StorageSample): void {
    const { metrics } = sample;
    this.walFsyncDuration.set({ bucketCounts: metrics.fsyncBucketCounts, sum: metrics.fsyncTotalMs / 1000, count: metrics.fsyncCount });
    this.walDiskFull.set(sample.state === 'disk-full' ? 1 : 0);
    setCounter(this.walAppends, metrics.appendCount);
    setCounter(this.walBytesWritten, metrics.bytesWritten);
    setCounter(this.walSnapshotsSaved, metrics.snapshotsSaved);
  }

  setTransport(sample: TransportSample): void {
    for (const metric of [this.transportSent, this.transportSentBytes, this.transportDropped, this.transportReceived, this.transportReceivedBytes, this.transportPeerConnected]) metric.reset();
    for (const peer of Object.keys(sample.outbound).sort()) {
      const stats = sample.outbound[peer]!;
      this.transportSent.inc({ peer }, stats.sentMessages);
      this.transportSentBytes.inc({ peer }, stats.sentBytes);
      for (const cause of dropCauses) this.transportDropped.inc({ peer, cause }, stats.drops[cause] ?? 0);
      this.transportPeerConnected.set({ peer }, stats.state === 'connected' ? 1 : 0);
    }
    for (const peer of Object.keys(sample.peers).sort()) {
      const stats = sample.peers[peer]!;
      this.transportReceived.inc({ peer }, stats.receivedMessages);
      this.transportReceivedBytes.inc({ peer }, stats.receivedBytes);
    }
  }

  /** A source that throws, or hands over a sample its metrics refuse, counts as failed. */
  private sampleFrom<T>(name: SourceName, source: () => T, apply: (sample: T) => void): void {
    try {
      apply(source());
    } catch {
      this.sourceErrors.inc({ source: name });
    }
  }

  private boundedMethod(method: string): string {
    if (this.apiMethods.has(method)) return method;
    if (this.apiMethods.size >= this.maxApiMethods) return OTHER_API_METHOD;
    this.apiMethods.add(method);
    return method;
  }
}

/** A counter that mirrors a count kept elsewhere (which restarts at 0 when its owner is reopened,
 * a reset Prometheus' rate() understands). */
function setCounter(counter: Counter, value: number): void {
  counter.reset();
  counter.inc(value);
}
