// The daemon's logger: JSON lines with node_id and role, child loggers carrying object ids, secret
// values redacted wherever they sit (fields, nested objects, arrays, child bindings), the level from
// the option or WARREN_LOG_LEVEL (and a bad one refused), and flushSync writing a file's buffered
// lines out before it returns.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogging, LogConfigError, REDACTED, resolveLevel, withObjectIds, type LoggingOptions } from './logging.ts';

function capture(options: Partial<LoggingOptions> = {}) {
  const lines: string[] = [];
  const logging = createLogging({ nodeId: 'm1', role: 'manager', env: {}, destination: { write: (line: string) => void lines.push(line) }, ...options });
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logging, logger: logging.logger, lines, records };
}

test('each line is one JSON object with node_id, role, a level name and an ISO time', () => {
  const { logger, lines, records } = capture();
  logger.info({ index: 12 }, 'applied');
  logger.warn('slow fsync');
  assert.equal(lines.length, 2);
  for (const line of lines) assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line per record');
  const [first, second] = records();
  assert.equal(first!.node_id, 'm1');
  assert.equal(first!.role, 'manager');
  assert.equal(first!.level, 'info');
  assert.equal(first!.msg, 'applied');
  assert.equal(first!.index, 12);
  assert.ok(!Number.isNaN(Date.parse(String(first!.time))) && String(first!.time).includes('T'));
  assert.equal(second!.level, 'warn');
});

test('child loggers carry the ids of the objects an event is about', () => {
  const { logger, records } = capture();
  const forTask = withObjectIds(logger, { service_id: 'svc-1', task_id: 'task-7' });
  forTask.info({ state: 'running' }, 'task state');
  withObjectIds(forTask, { peer_id: 'w3' }).info('assigned');
  const [state, assigned] = records();
  assert.deepEqual([state!.node_id, state!.service_id, state!.task_id, state!.state], ['m1', 'svc-1', 'task-7', 'running']);
  assert.deepEqual([assigned!.service_id, assigned!.task_id, assigned!.peer_id], ['svc-1', 'task-7', 'w3']);
});

test('secret values are redacted at any depth, in arrays and in child bindings; other fields are kept', () => {
  const { logger, lines, records } = capture();
  const secret = 'S3CR3T-do-not-log';
  logger.info({ value: secret, name: 'db-password' }, 'top level');
  logger.info({ command: { type: 'secret-create', name: 'pw', ciphertext: secret, digest: 'abc' } }, 'one level');
  logger.info({ entry: { command: { secret: { plaintext: secret } } } }, 'nested');
  logger.info({ tasks: [{ id: 't1', secrets: [secret] }, { id: 't2', password: secret }] }, 'in arrays');
  logger.child({ token: secret, service_id: 'svc-1' }).info('binding');
  const raw = lines.join('');
  assert.ok(!raw.includes(secret), 'the secret appears in no line');
  const [top, one, , arrays, binding] = records();
  assert.equal(top!.value, REDACTED);
  assert.equal(top!.name, 'db-password');
  assert.deepEqual(one!.command, { type: 'secret-create', name: 'pw', ciphertext: REDACTED, digest: 'abc' });
  assert.deepEqual(arrays!.tasks, [{ id: 't1', secrets: REDACTED }, { id: 't2', password: REDACTED }]);
  assert.equal(binding!.token, REDACTED);
  assert.equal(binding!.service_id, 'svc-1');

  // The checker above has teeth: the same records without redaction do leak.
  const leaky: string[] = [];
  const plain = createLogging({ nodeId: 'm1', role: 'manager', env: {}, destination: { write: (line: string) => void leaky.push(line) }, redactKeys: [] });
  plain.logger.info({ unrelated: secret }, 'not a secret key');
  assert.ok(leaky.join('').includes(secret), 'only the listed keys are redacted');
});

test('the level comes from the option, else WARREN_LOG_LEVEL, else info; an unknown one is refused', () => {
  assert.equal(resolveLevel({ env: {} }), 'info');
  assert.equal(resolveLevel({ env: { WARREN_LOG_LEVEL: 'DEBUG ' } }), 'debug');
  assert.equal(resolveLevel({ level: 'error', env: { WARREN_LOG_LEVEL: 'debug' } }), 'error');
  assert.throws(() => resolveLevel({ env: { WARREN_LOG_LEVEL: 'verbose' } }), (error: unknown) =>
    error instanceof LogConfigError && error.code === 'invalid-log-level' && /WARREN_LOG_LEVEL: unknown log level "verbose"; expected one of fatal, error/.test(error.message));

  assert.throws(() => createLogging({ nodeId: 'm1', role: 'manager', env: {}, redactKeys: ['a.b'] }), (error: unknown) => error instanceof LogConfigError && error.code === 'invalid-redact-key');

  const quiet = capture({ env: { WARREN_LOG_LEVEL: 'warn' } });
  quiet.logger.info('dropped');
  quiet.logger.error('kept');
  assert.deepEqual(quiet.records().map((record) => record.msg), ['kept']);
  const verbose = capture({ level: 'debug', env: { WARREN_LOG_LEVEL: 'warn' } });
  verbose.logger.debug('kept');
  assert.equal(verbose.records().length, 1);
});

test('flushSync writes buffered lines to a log file before returning', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'warren-logging-'));
  try {
    const path = join(dir, 'daemon.log');
    const logging = createLogging({ nodeId: 'w2', role: 'worker', env: {}, destination: path });
    for (let i = 0; i < 100; i++) logging.logger.info({ i }, 'line');
    logging.flushSync();
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    assert.deepEqual(lines.map((line) => JSON.parse(line).i), Array.from({ length: 100 }, (_, i) => i));
    assert.equal(JSON.parse(lines[0]!).node_id, 'w2');
    logging.logger.info('last');
    logging.close();
    logging.logger.info('after close');
    assert.equal(readFileSync(path, 'utf8').trim().split('\n').length, 101, 'close flushed the last line');
    assert.equal(logging.droppedLines(), 1, 'a line after close is dropped, not written to a closed descriptor');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
