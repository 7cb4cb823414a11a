// Health probes run for real against a task's process, each bounded by the check's timeout.
// Processes share the host's network, so HTTP and TCP probes go to the probe host (127.0.0.1 by
// default) on the check's port.
// - http: GET <path>, no redirects followed, no connection reuse; 2xx and 3xx are healthy.
// - tcp: healthy once a connection is established (it is closed at once).
// - exec: the command runs in the task's working directory with the task's environment, in a
//   process group of its own that is SIGKILLed at the timeout; exit code 0 is healthy. Its output
//   (at most maxExecOutputBytes) goes into the message.

import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import type { HealthCheck } from '../../../core/state/types.ts';
import { signalGroup } from './proc.ts';

export interface ProbeResult {
  readonly healthy: boolean;
  readonly message: string;
}

export interface ProbeTarget {
  readonly host: string;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
}

/** Output of an exec probe kept for its message. */
export const maxExecOutputBytes = 4096;
/** Longest message text taken from an exec probe's output. */
const maxMessageChars = 512;

export function runProbe(check: HealthCheck, target: ProbeTarget): Promise<ProbeResult> {
  const timeoutMs = Math.max(1, check.timeoutMs);
  switch (check.type) {
    case 'http': return probeHttp(target.host, check.port, check.path, timeoutMs);
    case 'tcp': return probeTcp(target.host, check.port, timeoutMs);
    case 'exec': return probeExec(check.command, target, timeoutMs);
  }
}

/** Runs `body` with a settle-once `finish` and a timer that finishes unhealthy at the timeout. */
function bounded(timeoutMs: number, body: (finish: (result: ProbeResult) => void, onTimeout: (cleanup: () => void) => void) => void): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let done = false;
    let cleanup = (): void => {};
    const timer = setTimeout(() => {
      cleanup();
      finish({ healthy: false, message: `timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    function finish(result: ProbeResult): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(result);
    }
    body(finish, (fn) => { cleanup = fn; });
  });
}

function probeHttp(host: string, port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  return bounded(timeoutMs, (finish, onTimeout) => {
    const req = request({ host, port, path, method: 'GET', agent: false, headers: { 'user-agent': 'warren-health-probe' } }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      req.destroy();
      finish({ healthy: status >= 200 && status < 400, message: `HTTP ${status}` });
    });
    req.on('error', (error) => finish({ healthy: false, message: `GET http://${host}:${port}${path}: ${error.message}` }));
    onTimeout(() => req.destroy());
    req.end();
  });
}

function probeTcp(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return bounded(timeoutMs, (finish, onTimeout) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      finish({ healthy: true, message: `connected to ${host}:${port}` });
    });
    socket.once('error', (error) => finish({ healthy: false, message: `connect ${host}:${port}: ${error.message}` }));
    onTimeout(() => socket.destroy());
  });
}

function probeExec(command: readonly string[], target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return bounded(timeoutMs, (finish, onTimeout) => {
    if (command.length === 0) return finish({ healthy: false, message: 'exec probe has no command' });
    const child = spawn(command[0], command.slice(1), {
      cwd: target.cwd,
      env: { ...target.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const chunks: Buffer[] = [];
    let kept = 0;
    const keep = (chunk: Buffer): void => {
      if (kept >= maxExecOutputBytes) return;
      const part = chunk.subarray(0, maxExecOutputBytes - kept);
      chunks.push(part);
      kept += part.length;
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const output = (): string => Buffer.concat(chunks).toString('utf8').trim().slice(0, maxMessageChars);
    child.once('error', (error) => finish({ healthy: false, message: `exec ${command[0]}: ${error.message}` }));
    child.once('close', (code, signal) => {
      const text = output();
      if (code === 0) return finish({ healthy: true, message: text === '' ? 'exit code 0' : text });
      const how = code !== null ? `exit code ${code}` : `killed by ${signal}`;
      finish({ healthy: false, message: text === '' ? how : `${how}: ${text}` });
    });
    onTimeout(() => {
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    });
  });
}
