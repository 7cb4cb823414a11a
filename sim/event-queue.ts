// The virtual clock: a priority queue of future events keyed by virtual time in microseconds.
// Invariants: `nowUs` never decreases; events pop in order of time, and events at the same time pop
// in the order they were scheduled (a sequence number breaks ties, so the order depends only on the
// inputs); no event is ever scheduled in the past; the queue never holds more than `maxEvents`.
// A binary min-heap kept in three parallel arrays (times, sequence numbers, events): no per-event
// object is allocated, and comparisons read only packed number arrays.

export const EVENT_QUEUE_MAX_EVENTS_DEFAULT = 1_000_000;

export class EventQueue<E> {
  readonly maxEvents: number;
  private nowUsCurrent = 0;
  private seqNext = 0;
  private readonly times: number[] = [];
  private readonly seqs: number[] = [];
  private readonly events: E[] = [];

  constructor(maxEvents: number = EVENT_QUEUE_MAX_EVENTS_DEFAULT) {
    if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) {
      throw new Error(`EventQueue: maxEvents must be a positive integer, got ${maxEvents}`);
    }
    this.maxEvents = maxEvents;
  }

  /** Virtual time in microseconds: the time of the last popped event (or of `advanceTo`). */
  get nowUs(): number {
    return this.nowUsCurrent;
  }

  get size(): number {
    return this.times.length;
  }

  schedule(atUs: number, event: E): void {
    if (!(atUs >= this.nowUsCurrent) || !Number.isFinite(atUs)) {
      throw new Error(`EventQueue.schedule: atUs=${atUs} is before nowUs=${this.nowUsCurrent} or not finite`);
    }
    const index = this.times.length;
    if (index >= this.maxEvents) {
      throw new Error(`EventQueue: bound maxEvents=${this.maxEvents} exceeded (unbounded event growth is a bug)`);
    }
    this.times.push(atUs);
    this.seqs.push(this.seqNext++);
    this.events.push(event);
    this.siftUp(index);
  }

  /** Removes the earliest event and advances `nowUs` to its time; undefined when empty. */
  pop(): E | undefined {
    const count = this.times.length;
    if (count === 0) return undefined;
    const times = this.times;
    const seqs = this.seqs;
    const events = this.events;
    const event = events[0] as E;
    this.nowUsCurrent = times[0] as number;
    const lastTime = times.pop() as number;
    const lastSeq = seqs.pop() as number;
    const lastEvent = events.pop() as E;
    if (count > 1) {
      times[0] = lastTime;
      seqs[0] = lastSeq;
      events[0] = lastEvent;
      this.siftDown(0);
    }
    return event;
  }

  /** The time of the earliest event, or Infinity when the queue is empty. */
  peekTimeUs(): number {
    return this.times.length === 0 ? Infinity : (this.times[0] as number);
  }

  /**
   * Moves the clock forward with no event, e.g. to stop a run at a deadline that falls between
   * events. It may not skip past a pending event: that event would then lie in the past.
   */
  advanceTo(atUs: number): void {
    if (!(atUs >= this.nowUsCurrent) || atUs > this.peekTimeUs() || !Number.isFinite(atUs)) {
      throw new Error(
        `EventQueue.advanceTo: atUs=${atUs} must lie in [nowUs=${this.nowUsCurrent}, next event=${this.peekTimeUs()}]`,
      );
    }
    this.nowUsCurrent = atUs;
  }

  private siftUp(start: number): void {
    const times = this.times;
    const seqs = this.seqs;
    const events = this.events;
    const time = times[start] as number;
    const seq = seqs[start] as number;
    const event = events[start] as E;
    let index = start;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parentTime = times[parent] as number;
      if (parentTime < time || (parentTime === time && (seqs[parent] as number) < seq)) break;
      times[index] = parentTime;
      seqs[index] = seqs[parent] as number;
      events[index] = events[parent] as E;
      index = parent;
    }
    times[index] = time;
    seqs[index] = seq;
    events[index] = event;
  }

  private siftDown(start: number): void {
    const times = this.times;
    const seqs = this.seqs;
    const events = this.events;
    const count = times.length;
    const time = times[start] as number;
    const seq = seqs[start] as number;
    const event = events[start] as E;
    let index = start;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= count) break;
      const right = child + 1;
      if (right < count && this.less(right, child)) child = right;
      const childTime = times[child] as number;
      if (time < childTime || (time === childTime && seq < (seqs[child] as number))) break;
      times[index] = childTime;
      seqs[index] = seqs[child] as number;
      events[index] = events[child] as E;
      index = child;
    }
    times[index] = time;
    seqs[index] = seq;
    events[index] = event;
  }

  private less(a: number, b: number): boolean {
    const timeA = this.times[a] as number;
    const timeB = this.times[b] as number;
    return timeA < timeB || (timeA === timeB && (this.seqs[a] as number) < (this.seqs[b] as number));
  }
}
