// One-line renderings of entries and messages for the interaction runner's golden logs. The format
// is part of every testdata/*.txt file, so change it only together with a REWRITE=1 run and a review
// of the diff. Entries are `index/term:data`; an empty entry (a leader's no-op) is just `index/term`;
// data with spaces or separators is quoted as JSON; a membership entry is `index/term:conf(type node)`.

import { assertNever } from '../assert.ts';
import type { ConfChange, Entry, Message } from './types.ts';

/** Bound on entries spelled out in one line; longer runs show their ends and a count. */
const maxEntriesShown = 10;

function describeData(data: string): string {
  return /^[\w=.:+@/-]+$/.test(data) ? data : JSON.stringify(data);
}

export function describeEntry(e: Entry): string {
  const head = `${e.index}/${e.term}`;
  if (e.type === 'conf') {
    const change = JSON.parse(e.data) as ConfChange;
    return `${head}:conf(${change.type} ${change.node})`;
  }
  return e.data === '' ? head : `${head}:${describeData(e.data)}`;
}

export function describeEntries(entries: readonly Entry[]): string {
  if (entries.length <= maxEntriesShown) return `[${entries.map(describeEntry).join(' ')}]`;
  const head = entries.slice(0, 3).map(describeEntry).join(' ');
  const tail = entries.slice(-2).map(describeEntry).join(' ');
  return `[${head} ... ${tail}](${entries.length} entries)`;
}

export function describeMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case 'vote':
    case 'pre-vote':
      return `${head} last=(${m.lastIndex},${m.lastTerm})${m.transfer ? ' transfer' : ''}`;
    case 'vote-resp':
    case 'pre-vote-resp':
      return `${head}${m.reject ? ' reject' : ''}`;
    case 'app':
      return `${head} prev=(${m.prevIndex},${m.prevTerm}) entries=${describeEntries(m.entries)} commit=${m.commit}`;
    case 'app-resp':
      return m.reject ? `${head} reject index=${m.index} hint=(${m.hintIndex},${m.hintTerm})` : `${head} index=${m.index}`;
    case 'heartbeat':
      return `${head} commit=${m.commit}${m.context === null ? '' : ` ctx=${m.context}`}`;
    case 'heartbeat-resp':
      return `${head}${m.context === null ? '' : ` ctx=${m.context}`}`;
    case 'snap':
      return `${head} snap=(${m.meta.index},${m.meta.term}) offset=${m.offset} bytes=${m.chunk.length}${m.done ? ' done' : ''}`;
    case 'snap-resp':
      return `${head} snap=${m.snapIndex} next=${m.nextOffset}${m.reject ? ' reject' : ''}`;
    case 'timeout-now':
      return head;
    case 'read-index':
      return `${head} ctx=${m.context}`;
    case 'read-index-resp':
      return m.reject ? `${head} ctx=${m.context} reject` : `${head} ctx=${m.context} index=${m.index}`;
    default:
      return assertNever(m, 'message');
  }
}
