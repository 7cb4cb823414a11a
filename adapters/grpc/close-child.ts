// A child process for the close() test of raft-transport.test.ts: it starts three transports on
// loopback, exchanges messages, leaves one peer unreachable so a reconnect backoff timer is pending,
// then closes every transport (mode "close") or all but one (mode "leak", which shows the test can
// tell), and prints one JSON line: what it exchanged and the resources still keeping Node alive.
// In mode "close" it must then exit by itself: nothing may keep the event loop running.

import { nodeId } from '../../core/raft/index.ts';
import type { Message } from '../../core/raft/index.ts';
import { RaftTransport } from './raft-transport.ts';
import { everyVariant, startMesh, waitFor } from './testing.ts';

const mode = process.argv[2] ?? 'close';
const ids = ['n1', 'n2', 'n3'].map(nodeId);
const mesh = await startMesh(ids, { closeTimeoutMs: 500 });
const received: Message[] = [];
for (const transport of mesh.values()) transport.onMessage((message) => received.push(message));
for (const [from, transport] of mesh) for (const to of ids) if (to !== from) transport.send(everyVariant(from, to, 2));
const expected = everyVariant(ids[0]!, ids[1]!, 2).length * 6;
await waitFor('every message delivered', () => received.length === expected);

// A fourth transport whose peer address has nothing behind it: it is backing off when closed.
const lonely = new RaftTransport({ id: nodeId('n4'), clusterId: 'cluster-test', listen: '127.0.0.1:0', peers: new Map([[nodeId('n5'), '127.0.0.1:1']]) });
await lonely.start();
lonely.send([{ type: 'timeout-now', from: nodeId('n4'), to: nodeId('n5'), term: 1 }]);
await waitFor('a failed attempt to the missing peer', () => lonely.stats().outbound['n5']!.state === 'backoff');

const all = [...mesh.values(), lonely];
await Promise.all((mode === 'leak' ? all.slice(1) : all).map((transport) => transport.close()));
// Give closed sockets a turn to release their handles before listing what is left.
await new Promise((resolve) => setImmediate(resolve));
const resources = process.getActiveResourcesInfo().filter((name) => name !== 'TTYWrap' && name !== 'PipeWrap');
process.stdout.write(`${JSON.stringify({ received: received.length, expected, resources })}\n`);
