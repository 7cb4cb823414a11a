// The ports: what a shell gives the core. The core never calls them; it emits their actions as plain
// data and the shell feeds the outcomes back in as events. The simulator (sim/) and the real
// adapters (adapters/) each implement every port.
//
// Runtime: the worker's container runtime. Actions name the task they act on; every action gets
// exactly one outcome event unless the node dies first. An `exited` event can also arrive unasked
// (the container crashed or was OOM-killed).

import type { HealthCheck, Resources, TaskId } from './state/types.ts';

/** What the runtime needs to create a container for a task. */
export interface ContainerSpec {
  readonly image: string;
  readonly command: readonly string[];
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly limits: Resources;
  /** Volume name → mount path. */
  readonly mounts: readonly { readonly volume: string; readonly target: string; readonly readOnly: boolean }[];
  /** Secret file name → plaintext is delivered by the shell, never through the core. */
  readonly secrets: readonly { readonly secret: string; readonly target: string }[];
  readonly ports: readonly { readonly target: number; readonly published: number; readonly protocol: 'tcp' | 'udp' }[];
  readonly stopGracePeriodMs: number;
}

export type RuntimeAction =
  | { readonly type: 'pull'; readonly taskId: TaskId; readonly image: string }
  | { readonly type: 'create'; readonly taskId: TaskId; readonly spec: ContainerSpec }
  | { readonly type: 'start'; readonly taskId: TaskId }
  /** SIGTERM, then SIGKILL after graceMs. */
  | { readonly type: 'stop'; readonly taskId: TaskId; readonly graceMs: number }
  | { readonly type: 'remove'; readonly taskId: TaskId }
  | { readonly type: 'probe'; readonly taskId: TaskId; readonly check: HealthCheck };

export type RuntimeEvent =
  | { readonly type: 'pulled'; readonly taskId: TaskId; readonly ok: boolean; readonly error: string | null }
  | { readonly type: 'created'; readonly taskId: TaskId; readonly ok: boolean; readonly error: string | null }
  | { readonly type: 'started'; readonly taskId: TaskId; readonly ok: boolean; readonly error: string | null }
  /** The container's process ended: on its own, crashed, OOM-killed, or after a stop. */
  | { readonly type: 'exited'; readonly taskId: TaskId; readonly exitCode: number; readonly oomKilled: boolean }
  | { readonly type: 'removed'; readonly taskId: TaskId }
  | { readonly type: 'probed'; readonly taskId: TaskId; readonly healthy: boolean; readonly message: string };

/** What the runtime reports about the containers it holds (after a restart of the agent, to adopt them). */
export interface ContainerStatus {
  readonly taskId: TaskId;
  readonly state: 'created' | 'running' | 'exited';
  readonly exitCode: number | null;
}
