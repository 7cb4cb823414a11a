// The bounded queue of task reports waiting for the managers. While connected it keeps every
// transition in order (assigned → starting → running); while disconnected, or when it would exceed
// its bound, it keeps only the latest report per task (the managers reconcile from the latest).
// Invariant: never holds more than `capacity` reports; what it had to drop is counted.

import { assert } from '../assert.ts';
import type { TaskReport } from './types.ts';

export class ReportQueue {
  private reports: TaskReport[] = [];
  /** Reports dropped because more distinct tasks had news than the bound allows. */
  dropped = 0;

  constructor(readonly capacity: number) {
    assert(Number.isInteger(capacity) && capacity >= 1, `report queue capacity must be a positive integer, got ${capacity}`);
  }

  get length(): number {
    return this.reports.length;
  }

  push(report: TaskReport, coalesce: boolean): void {
    if (coalesce) this.reports = this.reports.filter((r) => r.taskId !== report.taskId);
    this.reports.push(report);
    if (this.reports.length > this.capacity) this.coalesce();
    if (this.reports.length > this.capacity) {
      const excess = this.reports.length - this.capacity;
      this.reports.splice(0, excess);
      this.dropped += excess;
    }
    assert(this.reports.length <= this.capacity, 'report queue exceeded its bound');
  }

  /** Keeps only the latest report per task, in the order of those latest reports. */
  coalesce(): void {
    const latest = new Map<string, number>();
    this.reports.forEach((r, i) => latest.set(r.taskId, i));
    this.reports = this.reports.filter((r, i) => latest.get(r.taskId) === i);
  }

  take(): TaskReport[] {
    const taken = this.reports;
    this.reports = [];
    return taken;
  }
}
