// The bounded queue of encoded messages waiting to go to one peer. Raft tolerates message loss, so
// when the queue is over its bound (in messages or bytes) it sheds load instead of growing:
//   1. a message larger than the byte bound (or than one frame) is refused outright ('oversize');
//   2. otherwise the new message is appended, then the OLDEST non-snapshot messages are dropped until
//      the queue is within bounds ('overflow'): a stale heartbeat or append is superseded by newer
//      ones, and the leader resends from the follower's progress anyway;
//   3. if only snapshot chunks are left and the queue is still over, the NEWEST chunk (the one just
//      added) is dropped instead: the chunks already queued form an in-order prefix the follower can
//      use, whereas dropping the oldest would make every later chunk useless. The leader re-asks
//      from the follower's next offset.
// Invariants: count <= maxMessages and bytes <= maxBytes after every push; the order of the messages
// that are taken is the order they were pushed; every pushed message is either taken, dropped
// (reported to the caller) or still queued. Dropping is amortised O(1): dropped slots become holes
// that a cursor skips, and the array is compacted when holes outnumber live messages.

export interface QueuedMessage {
  readonly bytes: Buffer;
  /** Snapshot chunks are dropped last (rule 3). */
  readonly snapshot: boolean;
}

export type DropReason = 'oversize' | 'overflow';

export interface Dropped {
  readonly item: QueuedMessage;
  readonly reason: DropReason;
}

export class OutboundQueue {
  /** Live items and holes (null) from `head` on. */
  private slots: (QueuedMessage | null)[] = [];
  private head = 0;
  /** Every slot in [head, cursor) is a hole or a snapshot chunk: where the next overflow drop looks. */
  private cursor = 0;
  private holes = 0;
  private countLive = 0;
  private bytesLive = 0;

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {
    if (!Number.isInteger(maxMessages) || maxMessages < 1) throw new RangeError(`maxMessages must be a positive integer, got ${maxMessages}`);
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
  }

  get count(): number {
    return this.countLive;
  }

  get bytes(): number {
    return this.bytesLive;
  }

  /** Array slots held, holes included (the memory bound tests check it stays O(maxMessages)). */
  get slotsHeld(): number {
    return this.slots.length;
  }

  /** Appends `item`; returns what was dropped to stay within bounds (possibly `item` itself). */
  push(item: QueuedMessage): Dropped[] {
    if (item.bytes.length > this.maxBytes) return [{ item, reason: 'oversize' }];
    this.slots.push(item);
    this.countLive++;
    this.bytesLive += item.bytes.length;
    const dropped: Dropped[] = [];
    while (this.countLive > this.maxMessages || this.bytesLive > this.maxBytes) {
      const index = this.oldestNonSnapshot();
      const victim = index === -1 ? this.slots.length - 1 : index;
      dropped.push({ item: this.remove(victim), reason: 'overflow' });
    }
    this.maybeCompact();
    return dropped;
  }

  /** Removes and returns messages from the front: at least one when not empty, then as many as fit in maxBytes. */
  take(maxBytes: number): QueuedMessage[] {
    const taken: QueuedMessage[] = [];
    let bytes = 0;
    while (this.head < this.slots.length) {
      const item = this.slots[this.head];
      if (item === undefined) break;
      if (item !== null) {
        if (taken.length > 0 && bytes + item.bytes.length > maxBytes) break;
        taken.push(item);
        bytes += item.bytes.length;
        this.countLive--;
        this.bytesLive -= item.bytes.length;
      } else {
        this.holes--;
      }
      this.slots[this.head] = null;
      this.head++;
    }
    this.cursor = Math.max(this.cursor, this.head);
    this.maybeCompact();
    return taken;
  }

  /** Empties the queue, returning what it held in order. */
  clear(): QueuedMessage[] {
    const held = this.take(Number.POSITIVE_INFINITY);
    this.slots = [];
    this.head = this.cursor = this.holes = 0;
    return held;
  }

  private oldestNonSnapshot(): number {
    while (this.cursor < this.slots.length) {
      const item = this.slots[this.cursor];
      if (item !== null && item !== undefined && !item.snapshot) return this.cursor;
      this.cursor++;
    }
    return -1;
  }

  private remove(index: number): QueuedMessage {
    const item = this.slots[index]!;
    this.countLive--;
    this.bytesLive -= item.bytes.length;
    if (index === this.slots.length - 1) {
      this.slots.pop();
      this.cursor = Math.min(this.cursor, this.slots.length);
    } else {
      this.slots[index] = null;
      this.holes++;
    }
    return item;
  }

  /** Drops the taken prefix and the holes once they outweigh the live messages. */
  private maybeCompact(): void {
    if (this.head + this.holes <= Math.max(64, this.countLive)) return;
    const live: QueuedMessage[] = [];
    let cursor = -1;
    for (let i = this.head; i < this.slots.length; i++) {
      const item = this.slots[i];
      if (item === null || item === undefined) continue;
      if (cursor === -1 && i >= this.cursor) cursor = live.length;
      live.push(item);
    }
    this.slots = live;
    this.head = 0;
    this.holes = 0;
    this.cursor = cursor === -1 ? live.length : cursor;
  }
}
