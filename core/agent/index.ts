// The public surface of the worker agent: assignments and runtime outcomes in, runtime actions and
// task reports out.
export { Agent, isMissingImageError } from './agent.ts';
export { agentConfig } from './types.ts';
export type { AgentConfig, AgentOptions, AgentStatus, Assignment, TaskLocalStatus, TaskPhase, TaskReport } from './types.ts';
export { restartDelayUs, restartWanted } from './restart.ts';
export { newSessionCounts, WorkerSession } from './session.ts';
export type { SessionConfig, SessionCounts, SessionEnv } from './session.ts';
