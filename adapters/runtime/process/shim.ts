// The shim: a small /bin/sh script that runs each task's program and records how it ended, so an
// exit code survives a restart of the daemon (the daemon is not the parent of a process it
// adopted and cannot wait for it). It is the leader of the task's process group and session
// (spawned detached), its stdio are the task's log files, and nothing ties it to the daemon:
// the task keeps running while the daemon restarts.
// It traps the catchable terminating signals with a no-op so that a SIGTERM sent to the group
// stops the program (a trap with a handler is reset to the default in the program) while the
// shim lives on to record the program's status: POSIX shells run such a trap only after the
// foreground command ended. A program killed by a signal ends with 128 + the signal's number,
// the shell's convention, and so does the shim. Only an untrappable SIGKILL stops the shim
// without a record: a run that ended with no exit-status file was SIGKILLed (exit code 137).
// The one gap: a SIGTERM that arrives after the trap is set but before the program is forked
// reaches the shim alone. The runtime closes it by announcing `started` only once the shim's
// child runs the program (hasExecutedChild), and a stop only ever follows `started`.
// Command line: sh -c SCRIPT warren-task <exit-status file> <program> <args...>; the path of
// the exit-status file makes the command line unique to the task (see findGroupLeadersWithArgument).

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

const trappedSignals = 'HUP INT QUIT TERM USR1 USR2 ALRM PIPE XCPU XFSZ VTALRM PROF';

export const shimScript = [
  'status_file=$1',
  'shift',
  `trap : ${trappedSignals}`,
  '"$@"',
  'code=$?',
  // One short write: a reader that finds no trailing newline treats the status as not recorded.
  'printf \'%s\\n\' "$code" > "$status_file"',
  'exit "$code"',
].join('\n');

/** Exit code of a run that ended without a recorded status: the shim was SIGKILLed. */
export const exitCodeKilled = 137;

export interface ShimLaunch {
  readonly shellPath: string;
  readonly exitStatusPath: string;
  readonly executable: string;
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly stdoutPath: string;
  readonly stderrPath: string;
}

/**
 * Spawns the shim. Resolves once the spawn succeeded (the child has a pid) or rejects with the
 * reason it failed. The child is unreferenced: it never keeps the daemon's event loop alive.
 */
export function launchShim(launch: ShimLaunch): Promise<ChildProcess> {
  const stdout = openSync(launch.stdoutPath, 'a', 0o600);
  let stderr: number | null = null;
  try {
    stderr = openSync(launch.stderrPath, 'a', 0o600);
    const child = spawn(launch.shellPath, ['-c', shimScript, 'warren-task', launch.exitStatusPath, launch.executable, ...launch.argv], {
      cwd: launch.cwd,
      env: { ...launch.env },
      detached: true,
      stdio: ['ignore', stdout, stderr],
    });
    child.unref();
    if (child.pid !== undefined) return Promise.resolve(child);
    return new Promise((_, reject) => child.once('error', reject));
  } finally {
    closeSync(stdout);
    if (stderr !== null) closeSync(stderr);
  }
}
