// What one reconcile pass decides, accumulated and then turned into as few commands as possible:
// one task-create, one task-set-desired, one task-assign, one task-set-pending-reason, plus the
// per-task reports (orphaned) and per-service/node commands. A task is touched at most once per
// pass, and the pass stops adding work at its bound.

import type { DesiredChange, NewTask, PendingReason, StateCommand, TaskAssignment } from '../state/commands.ts';
import type { CommandShutdownCause, ServiceId, TaskId } from '../state/types.ts';

export class Plan {
  readonly creates: NewTask[] = [];
  readonly desired: DesiredChange[] = [];
  readonly assignments: TaskAssignment[] = [];
  readonly reasons: PendingReason[] = [];
  readonly other: StateCommand[] = [];
  private readonly touched = new Set<TaskId>();

  constructor(readonly nowUs: number, private readonly maxTasks: number) {}

  /** Room for more task work in this pass. */
  full(): boolean {
    return this.creates.length + this.desired.length + this.assignments.length >= this.maxTasks;
  }

  create(task: NewTask): void {
    if (this.full()) return;
    this.creates.push(task);
  }

  /** Asks the task to stop, saying why (the store keeps it); the first reason of a pass wins. */
  shutdown(taskId: TaskId, cause: CommandShutdownCause): void {
    if (this.touched.has(taskId) || this.full()) return;
    this.touched.add(taskId);
    this.desired.push({ taskId, desiredState: 'shutdown', cause });
  }

  orphan(taskId: TaskId, message: string): void {
    if (this.touched.has(taskId)) return;
    this.touched.add(taskId);
    this.other.push({ type: 'task-report', taskId, state: 'orphaned', exitCode: null, message, atUs: this.nowUs });
  }

  assign(assignment: TaskAssignment): void {
    if (this.touched.has(assignment.taskId) || this.full()) return;
    this.touched.add(assignment.taskId);
    this.assignments.push(assignment);
  }

  pending(reason: PendingReason): void {
    if (this.touched.has(reason.taskId)) return;
    this.touched.add(reason.taskId);
    this.reasons.push(reason);
  }

  /**
   * The service is being rolled back in this pass: the tasks planned for it would carry the spec
   * version it is leaving, which the store refuses once the rollback applies. The next pass creates
   * them with the restored version.
   */
  dropCreatesOf(serviceId: ServiceId): void {
    for (let i = this.creates.length - 1; i >= 0; i--) if (this.creates[i]!.serviceId === serviceId) this.creates.splice(i, 1);
  }

  commands(): StateCommand[] {
    const out: StateCommand[] = [...this.other];
    const atUs = this.nowUs;
    if (this.desired.length > 0) out.push({ type: 'task-set-desired', changes: this.desired, atUs });
    if (this.creates.length > 0) out.push({ type: 'task-create', tasks: this.creates, atUs });
    if (this.assignments.length > 0) out.push({ type: 'task-assign', assignments: this.assignments, atUs });
    if (this.reasons.length > 0) out.push({ type: 'task-set-pending-reason', reasons: this.reasons, atUs });
    return out;
  }
}
