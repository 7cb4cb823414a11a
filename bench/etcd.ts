// etcd beside warren in the real-shell benchmarks: three etcd members on loopback, each with its own
// data directory in a temporary directory and etcd's default durability (fsync on), and a minimal
// client of etcd's gRPC API: KV.Put with raw bytes, and Maintenance.Status to find the leader. The
// protobuf messages are encoded and decoded by hand (only the fields used), so nothing but
// @grpc/grpc-js is needed.
// Invariants: the members are children of this process, registered for cleanup like warren's
// (real-cluster.ts); a Put counts only once etcd answered it without error.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { freePorts, makeTempDirectory, removeDirectory, TrackedProcess, waitFor } from './real-cluster.ts';

/** The etcd binary on PATH and its version, or null when etcd is not installed. */
export function etcdInstalled(): { readonly path: string; readonly version: string } | null {
  let path: string;
  try {
    path = execFileSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
  if (path === '') return null;
  const output = execFileSync(path, ['--version'], { encoding: 'utf8' });
  const version = /etcd Version:\s*(\S+)/.exec(output)?.[1] ?? output.split('\n')[0]!.trim();
  return { path, version };
}

// ---------------------------------------------------------------------------------------------
// Protobuf, by hand

function varint(value: number | bigint): Buffer {
  let v = BigInt(value);
  const bytes: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    bytes.push(byte);
  } while (v !== 0n);
  return Buffer.from(bytes);
}

function bytesField(field: number, value: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(value.length), value]);
}

/** etcdserverpb.PutRequest { bytes key = 1; bytes value = 2; } */
export function encodePutRequest(key: Buffer, value: Buffer): Buffer {
  return Buffer.concat([bytesField(1, key), bytesField(2, value)]);
}

/** The fields of a protobuf message: varints as bigint, length-delimited fields as bytes (fixed-width ones skipped). */
export function decodeFields(message: Buffer): Map<number, (bigint | Buffer)[]> {
  const fields = new Map<number, (bigint | Buffer)[]>();
  let at = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= message.length || shift > 63n) throw new RangeError('malformed protobuf varint');
      const byte = message[at++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
  };
  while (at < message.length) {
    const tag = Number(readVarint());
    const field = tag >>> 3;
    const add = (value: bigint | Buffer): void => void (fields.get(field) ?? fields.set(field, []).get(field)!).push(value);
    switch (tag & 7) {
      case 0:
        add(readVarint());
        break;
      case 1:
        at += 8;
        break;
      case 2: {
        const length = Number(readVarint());
        if (at + length > message.length) throw new RangeError('malformed protobuf: a field runs past the end');
        add(message.subarray(at, at + length));
        at += length;
        break;
      }
      case 5:
        at += 4;
        break;
      default:
        throw new RangeError(`malformed protobuf: wire type ${tag & 7}`);
    }
  }
  return fields;
}

export interface EtcdStatus {
  readonly memberId: bigint;
  readonly leaderId: bigint;
  readonly raftIndex: bigint;
}

/** etcdserverpb.StatusResponse { ResponseHeader header = 1 {member_id = 2}; leader = 4; raftIndex = 5; } */
export function decodeStatusResponse(message: Buffer): EtcdStatus {
  const fields = decodeFields(message);
  const header = fields.get(1)?.[0];
  if (!(header instanceof Buffer)) throw new Error('etcd StatusResponse without a header');
  const memberId = decodeFields(header).get(2)?.[0];
  const leaderId = fields.get(4)?.[0];
  const raftIndex = fields.get(5)?.[0] ?? 0n;
  if (typeof memberId !== 'bigint' || typeof leaderId !== 'bigint' || typeof raftIndex !== 'bigint') throw new Error('etcd StatusResponse without member_id or leader');
  return { memberId, leaderId, raftIndex };
}

// ---------------------------------------------------------------------------------------------
// The client

const identity = (bytes: Buffer): Buffer => bytes;

/** One gRPC channel to one etcd member. */
export class EtcdClient {
  private readonly client: grpc.Client;

  constructor(readonly address: string, private readonly timeoutMs = 10_000) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure());
  }

  put(key: Buffer, value: Buffer): Promise<void> {
    return this.unary('/etcdserverpb.KV/Put', encodePutRequest(key, value)).then(() => undefined);
  }

  async status(): Promise<EtcdStatus> {
    return decodeStatusResponse(await this.unary('/etcdserverpb.Maintenance/Status', Buffer.alloc(0)));
  }

  close(): void {
    this.client.close();
  }

  private unary(path: string, body: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(path, identity, identity, body, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (error, response) => {
        if (error) reject(error);
        else resolve(response ?? Buffer.alloc(0));
      });
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Three members

export interface EtcdMember {
  readonly name: string;
  readonly clientAddress: string;
  readonly process: TrackedProcess;
}

export class EtcdCluster {
  private constructor(readonly root: string, readonly members: readonly EtcdMember[]) {}

  /** Starts `size` members of a new etcd cluster on loopback and waits until a Put succeeds. */
  static async start(etcdPath: string, options: { readonly size?: number; readonly timeoutMs?: number } = {}): Promise<EtcdCluster> {
    const size = options.size ?? 3;
    const root = makeTempDirectory('warren-bench-etcd-');
    const ports = await freePorts(size * 2);
    const names = Array.from({ length: size }, (_, i) => `e${i + 1}`);
    const peerUrl = (i: number): string => `http://127.0.0.1:${ports[2 * i + 1]!}`;
    const initialCluster = names.map((name, i) => `${name}=${peerUrl(i)}`).join(',');
    const members = names.map((name, i): EtcdMember => {
      const clientUrl = `http://127.0.0.1:${ports[2 * i]!}`;
      const args = [
        '--name', name, '--data-dir', join(root, name),
        '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl(i), '--initial-advertise-peer-urls', peerUrl(i),
        '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', `bench-${process.pid}`,
        '--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'warn',
      ];
      return { name, clientAddress: `127.0.0.1:${ports[2 * i]!}`, process: TrackedProcess.spawn(`etcd ${name}`, etcdPath, args) };
    });
    const cluster = new EtcdCluster(root, members);
    try {
      const probe = new EtcdClient(members[0]!.clientAddress, 2000);
      try {
        await waitFor('etcd to accept a Put', async () => {
          await probe.put(Buffer.from('bench-ready'), Buffer.from('1'));
          return true;
        }, options.timeoutMs ?? 30_000, { everyMs: 100, fatal: () => cluster.exited() });
      } finally {
        probe.close();
      }
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** The member that leads, as the members' Status says. */
  async leader(): Promise<EtcdMember> {
    for (const member of this.members) {
      const client = new EtcdClient(member.clientAddress, 2000);
      try {
        const status = await client.status();
        if (status.memberId === status.leaderId) return member;
      } catch {
        // try the next member
      } finally {
        client.close();
      }
    }
    throw new Error('no etcd member says it leads');
  }

  /** The error for a member that has exited, or null while all run. */
  exited(): Error | null {
    const dead = this.members.find((m) => !m.process.running);
    if (dead === undefined) return null;
    return new Error(`etcd member ${dead.name} exited (code ${String(dead.process.exit?.code)}); its last output:\n${dead.process.recentOutput()}`);
  }

  /** SIGKILL: the data is thrown away, and a leader given SIGTERM beside its stopping peers waits seconds trying to hand leadership over. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((member) => member.process.kill9()));
    removeDirectory(this.root);
  }
}
