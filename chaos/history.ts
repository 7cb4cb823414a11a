// The client history format shared by the simulator's workload, the linearizability checker and
// external (Jepsen/Porcupine-style) checkers. One event per line when written as JSON lines.
// Invariant: events are kept in the order they happened; `time` never decreases.

export type HistoryOp = 'put' | 'get' | 'delete' | 'cas';
export type HistoryEventType = 'invoke' | 'ok' | 'fail' | 'info';

/**
 * `value` by op: put: the value written (string); get: null on invoke, the value read (string or
 * null when absent) on ok; delete: null; cas: [expected, new] where expected null means "absent".
 * `type`: invoke, ok (took effect), fail (certainly did not take effect, including a cas whose
 * expected value did not match), info (unknown: may take effect at any time after its invoke).
 * A process that saw info never invokes again; the client continues under a new process id.
 */
export interface HistoryEvent {
  readonly process: number;
  readonly type: HistoryEventType;
  readonly op: HistoryOp;
  readonly key: string;
  readonly value: string | null | readonly [string | null, string];
  readonly time: number; // virtual microseconds in the simulator
}
