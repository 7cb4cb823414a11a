// Sealing secret values: what is sealed opens only with the same cluster key and for the same
// secret id, any change to the ciphertext is detected, and the digest is keyed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { SecretSealer } from './api-secrets.ts';

test('a sealed value opens with its key and id only, and a tampered ciphertext does not open', () => {
  const key = randomBytes(32);
  const sealer = new SecretSealer(key);
  const value = Buffer.from('p@ss é 😀');
  const sealed = sealer.seal('s1', value);
  assert.match(sealed.ciphertext, /^aes-256-gcm:v1:[A-Za-z0-9+/]+=*$/);
  assert.deepEqual(new SecretSealer(Buffer.from(key)).open('s1', sealed.ciphertext), value);
  assert.notEqual(sealer.seal('s1', value).ciphertext, sealed.ciphertext, 'a fresh IV every time');
  assert.throws(() => sealer.open('s2', sealed.ciphertext), /secret s2: ciphertext does not open with this cluster key/, 'bound to its secret id');
  assert.throws(() => new SecretSealer(randomBytes(32)).open('s1', sealed.ciphertext), /does not open/);
  const raw = Buffer.from(sealed.ciphertext.slice('aes-256-gcm:v1:'.length), 'base64');
  raw[raw.length - 1]! ^= 1;
  assert.throws(() => sealer.open('s1', `aes-256-gcm:v1:${raw.toString('base64')}`), /does not open/);
  assert.throws(() => sealer.open('s1', 'plain'), /not in format aes-256-gcm:v1:/);
  assert.throws(() => sealer.open('s1', 'aes-256-gcm:v1:AAAA'), /too short/);
});

test('the digest is keyed: equal values have equal digests under one key, and it is not a bare hash', () => {
  const sealer = new SecretSealer(randomBytes(32));
  const value = Buffer.from('123456');
  assert.equal(sealer.seal('a', value).digest, sealer.seal('b', value).digest);
  assert.notEqual(sealer.digest(value), sealer.digest(Buffer.from('1234567')));
  assert.notEqual(sealer.digest(value), new SecretSealer(randomBytes(32)).digest(value));
  assert.ok(!sealer.digest(value).includes(createHash('sha256').update(value).digest('hex')));
  assert.throws(() => new SecretSealer(randomBytes(16)), /the cluster secret key must be 32 bytes, got 16/);
});
