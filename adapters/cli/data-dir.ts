// What a manager's data directory holds besides its write-ahead log: the cluster key (cluster.key,
// 32 bytes as hex, readable by the owner only). `cluster init`, `manager join` and `manager start`
// (./daemon.ts) and `cluster up` (./up.ts) decide from it whether a directory is a manager's.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SECRET_KEY_BYTES } from '../grpc/api-secrets.ts';

/** The cluster key in a manager's data directory. */
const KEY_FILE = 'cluster.key';

export function keyFileOf(dataDir: string): string {
  return join(dataDir, KEY_FILE);
}

/** A 32-byte key from a file: the raw bytes, or 64 hex digits, or base64 (surrounding whitespace ignored). */
export function readKey(path: string): Buffer {
  const raw = readFileSync(path);
  if (raw.length === SECRET_KEY_BYTES) return raw;
  const text = raw.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  const decoded = Buffer.from(text, 'base64');
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(text) && decoded.length === SECRET_KEY_BYTES) return decoded;
  throw new Error(`${path} does not hold a ${SECRET_KEY_BYTES}-byte key (raw, 64 hex digits or base64); make one with: head -c 32 /dev/urandom > ${path}`);
}

/** Writes the key into `dataDir` (created if need be), atomically. */
export function writeKey(dataDir: string, key: Buffer): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = keyFileOf(dataDir);
  writeFileSync(`${file}.tmp`, key.toString('hex') + '\n', { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** Whether `dir` holds a manager's state (anything but a key left by an init that failed to start). */
export function hasManagerState(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((name) => name !== KEY_FILE && name !== `${KEY_FILE}.tmp`);
}
