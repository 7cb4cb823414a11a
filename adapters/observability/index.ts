// The public surface of the observability adapter: what the daemon assembles to be observable and
// to stop cleanly: Prometheus metrics (metrics.ts), the /live /ready /health /metrics server
// (health.ts, with its rules in health-checks.ts), JSON logging with pino (logging.ts, written
// through log-destination.ts) and the graceful shutdown coordinator (shutdown.ts).

export { DaemonMetrics, buckets, OTHER_API_METHOD, raftRoles } from './metrics.ts';
export type { DaemonMetricsOptions, MetricsSources, RaftSample, StorageSample, TaskCounts, TransportSample } from './metrics.ts';
export { HealthServer } from './health.ts';
export type { HealthChecks, HealthReport, HealthServerOptions } from './health.ts';
export {
  allReady, assessApi, assessRaft, assessStorage, assessTransport, component, ManagerReadiness, notReady, ready, workerReadiness,
} from './health-checks.ts';
export type { ApiHealthSample, ComponentHealth, Readiness, StorageHealthSample, TransportHealthSample } from './health-checks.ts';
export { createLogging, LOG_LEVEL_ENV, LogConfigError, logLevels, REDACTED, redactionPaths, resolveLevel, secretKeys, withObjectIds } from './logging.ts';
export type { DaemonLogging, LoggingOptions, NodeRole, ObjectIds } from './logging.ts';
export { BatchedLogDestination } from './log-destination.ts';
export type { LogDestinationOptions } from './log-destination.ts';
export { defaultShutdownSignals, ShutdownCoordinator, standardSteps } from './shutdown.ts';
export type { ShutdownLogger, ShutdownOptions, ShutdownResult, ShutdownStep, SignalSource, StandardShutdown, StepOutcome, StepStatus } from './shutdown.ts';
