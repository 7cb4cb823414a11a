// Sealing secret values under the cluster key before they enter the Raft log: the store (and every
// snapshot and WAL segment) holds only AES-256-GCM ciphertext and a keyed digest, and the API never
// returns either's input. Two keys are derived from the 32-byte cluster key with HKDF-SHA256, one
// to encrypt and one for the digest, so the digest (an HMAC, not a bare hash that a dictionary
// could reverse for a short password) reveals nothing about the value.
// Ciphertext format: `aes-256-gcm:v1:` + base64(iv (12 bytes) | tag (16 bytes) | ciphertext), with
// the secret's id as additional authenticated data: a ciphertext copied onto another secret, or
// altered, or read with another key, fails to open instead of yielding a wrong value.

import { createCipheriv, createDecipheriv, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { randomBytesPooled } from './random-pool.ts';

export const SECRET_KEY_BYTES = 32;
/** Bound on a secret's value (Docker Swarm's bound, 500 KiB), well within the store's ciphertext bound. */
export const maxSecretValueBytes = 500 * 1024;

const FORMAT = 'aes-256-gcm:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class SecretOpenError extends Error {
  override readonly name = 'SecretOpenError';
}

export interface SealedSecret {
  readonly ciphertext: string;
  readonly digest: string;
}

/** What a joining manager sends to show it holds the cluster key, bound to its id and address. */
export function joinProof(clusterKey: Buffer, clusterId: string, id: string, address: string): string {
  const key = Buffer.from(hkdfSync('sha256', clusterKey, Buffer.alloc(0), 'warren manager join v1', SECRET_KEY_BYTES));
  return createHmac('sha256', key).update(`${clusterId}\n${id}\n${address}`).digest('hex');
}

/** Whether `proof` is joinProof(...) for these (compared in constant time). */
export function checkJoinProof(proof: string, clusterKey: Buffer, clusterId: string, id: string, address: string): boolean {
  const expected = Buffer.from(joinProof(clusterKey, clusterId, id, address), 'utf8');
  const given = Buffer.from(proof, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export class SecretSealer {
  private readonly encryptionKey: Buffer;
  private readonly digestKey: Buffer;

  /** `clusterKey`: 32 random bytes shared by the managers (created at cluster init). */
  constructor(clusterKey: Buffer) {
    if (!Buffer.isBuffer(clusterKey) || clusterKey.length !== SECRET_KEY_BYTES) {
      throw new RangeError(`the cluster secret key must be ${SECRET_KEY_BYTES} bytes, got ${Buffer.isBuffer(clusterKey) ? clusterKey.length : typeof clusterKey}`);
    }
    this.encryptionKey = Buffer.from(hkdfSync('sha256', clusterKey, Buffer.alloc(0), 'warren secret encryption v1', SECRET_KEY_BYTES));
    this.digestKey = Buffer.from(hkdfSync('sha256', clusterKey, Buffer.alloc(0), 'warren secret digest v1', SECRET_KEY_BYTES));
  }

  /** Seals `value` for the secret with id `id`. */
  seal(id: string, value: Buffer): SealedSecret {
    const iv = randomBytesPooled(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.encryptionKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(id, 'utf8'));
    const body = Buffer.concat([cipher.update(value), cipher.final()]);
    const sealed = Buffer.concat([iv, cipher.getAuthTag(), body]);
    return { ciphertext: `${FORMAT}${sealed.toString('base64')}`, digest: this.digest(value) };
  }

  /** The value sealed for secret `id`; throws SecretOpenError if it was not sealed by this key for this id. */
  open(id: string, ciphertext: string): Buffer {
    if (!ciphertext.startsWith(FORMAT)) throw new SecretOpenError(`secret ${id}: ciphertext is not in format ${FORMAT}`);
    const sealed = Buffer.from(ciphertext.slice(FORMAT.length), 'base64');
    if (sealed.length < IV_BYTES + TAG_BYTES) throw new SecretOpenError(`secret ${id}: ciphertext is too short`);
    const decipher = createDecipheriv('aes-256-gcm', this.encryptionKey, sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(id, 'utf8'));
    decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
    } catch {
      throw new SecretOpenError(`secret ${id}: ciphertext does not open with this cluster key (altered, sealed for another secret, or another key)`);
    }
  }

  digest(value: Buffer): string {
    return `hmac-sha256:${createHmac('sha256', this.digestKey).update(value).digest('hex')}`;
  }
}
