// The simulator's events (what the cluster's queue holds), their one-line description for traces,
// and the accounting of which faults actually fired, so an injection that never happens shows.

import type { Message } from '../core/raft/index.ts';
import type { AdminCounts } from './admin.ts';
import type { DiskFaultCounts } from './disk.ts';
import type { FaultClassName } from './nemesis.ts';
import type { NetworkFaultCounts } from './network.ts';
import type { ClientReply, ClientRequest } from './protocol.ts';
import type { SyncToken } from './disk.ts';

export type SimEvent =
  | { readonly type: 'tick'; readonly node: number; readonly epoch: number }
  | { readonly type: 'deliver'; readonly to: number; readonly msg: Message }
  | { readonly type: 'request'; readonly node: number; readonly req: ClientRequest }
  | { readonly type: 'reply'; readonly client: number; readonly reply: ClientReply }
  | { readonly type: 'sync'; readonly node: number; readonly epoch: number; readonly token: SyncToken }
  | { readonly type: 'wake'; readonly client: number; readonly seq: number }
  | { readonly type: 'fault'; readonly index: number }
  | { readonly type: 'heal' }
  | { readonly type: 'admin' }
  | { readonly type: 'restart'; readonly node: number };

export interface ProcessFaultCounts {
  crash: number;
  restart: number;
  pause: number;
  drift: number;
  clockJump: number;
}

export function countFaults(network: NetworkFaultCounts, disks: readonly DiskFaultCounts[], processFaults: ProcessFaultCounts): Record<FaultClassName, number> {
  let disk = 0;
  for (const d of disks) disk += d.tornWrite + d.bitFlip + d.lostWrites + d.full + d.slowSync;
  return {
    network: network.drop + network.duplicate + network.reorder + network.partitions,
    disk,
    process: processFaults.crash + processFaults.pause,
    clock: processFaults.drift + processFaults.clockJump,
  };
}

export function faultDetail(network: NetworkFaultCounts, disks: readonly DiskFaultCounts[], processFaults: ProcessFaultCounts, admin: AdminCounts): Record<string, number> {
  const detail: Record<string, number> = { ...network, ...processFaults, ...admin };
  for (const d of disks) for (const [k, v] of Object.entries(d)) detail[k] = (detail[k] ?? 0) + v;
  return detail;
}

export function describe(e: SimEvent): string {
  switch (e.type) {
    case 'tick':
      return `tick n${e.node + 1}`;
    case 'deliver': {
      const m = e.msg;
      return `deliver ${m.from}->${m.to} ${m.type} t${m.term}`;
    }
    case 'request':
      return `request c${e.req.client}->n${e.node + 1} #${e.req.id} ${e.req.op} ${e.req.key}`;
    case 'reply':
      return `reply c${e.client} #${e.reply.id} ${e.reply.outcome}`;
    case 'sync':
      return `sync n${e.node + 1}`;
    case 'wake':
      return `wake c${e.client}`;
    case 'fault':
      return `fault #${e.index}`;
    case 'heal':
      return 'heal-all';
    case 'admin':
      return 'admin';
    case 'restart':
      return `restart n${e.node + 1}`;
  }
}
