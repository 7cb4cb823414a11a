// A running hash of every simulated event (FNV-1a over a few integers per event): same seed and
// options give the same hash, so determinism is checked by comparing two runs' hashes.

import type { Message } from '../core/raft/index.ts';

const typeCodes: Record<string, number> = { tick: 1, deliver: 2, request: 3, reply: 4, sync: 5, wake: 6, fault: 7, heal: 8, admin: 9, restart: 10 };

export class TraceHash {
  private h1 = 0x811c9dc5;
  private h2 = 0x01000193;

  private mix(x: number): void {
    // Two independent 32-bit FNV-1a lanes over the integer's low and high halves.
    const lo = x >>> 0;
    const hi = Math.floor(x / 4294967296) >>> 0;
    this.h1 = Math.imul(this.h1 ^ lo, 0x01000193) >>> 0;
    this.h1 = Math.imul(this.h1 ^ hi, 0x01000193) >>> 0;
    this.h2 = Math.imul(this.h2 ^ (lo * 31 + 7), 0x01000193) >>> 0;
    this.h2 = Math.imul(this.h2 ^ this.h1, 0x01000193) >>> 0;
  }

  add(timeUs: number, e: { readonly type: string; readonly msg?: Message; readonly node?: number; readonly to?: number; readonly client?: number; readonly index?: number }): void {
    this.mix(timeUs);
    this.mix(typeCodes[e.type] ?? 0);
    if (e.node !== undefined) this.mix(e.node);
    if (e.to !== undefined) this.mix(e.to);
    if (e.client !== undefined) this.mix(e.client);
    if (e.index !== undefined) this.mix(e.index);
    if (e.msg) {
      this.mix(e.msg.term);
      this.mix(e.msg.type.length * 131 + e.msg.type.charCodeAt(0));
      if (e.msg.type === 'app') {
        this.mix(e.msg.prevIndex);
        this.mix(e.msg.entries.length);
      }
    }
  }

  hex(): string {
    return this.h1.toString(16).padStart(8, '0') + this.h2.toString(16).padStart(8, '0');
  }
}
