// Preparing a task's directory before its process is created: a fresh working directory, secret
// files, volume mounts and the process's environment.
// - Environment: the process does not inherit the daemon's environment (it would leak the
//   daemon's own settings); it gets PATH (the runtime's search path), HOME (its working directory),
//   WARREN_TASK_ID, WARREN_SECRETS_DIR and one WARREN_VOLUME_<NAME> per mount, then spec.env on top.
// - Secrets: the spec names secrets only; their plaintext comes from the shell through the
//   runtime's `readSecret(name, taskId)` (the daemon asks a manager, which checks that the task is
//   this node's and names the secret, and decrypts it with the cluster key). Each is written to
//   secrets/<target> with mode 0400 in a 0700 directory, and deleted with the task.
// - Mounts: a process cannot see a volume at an absolute path such as /data without a mount
//   namespace, so the target is mapped into the working directory (`/data` → work/data, a symlink
//   to the volume's directory) and the volume's absolute path is in WARREN_VOLUME_<NAME>.
//   readOnly is not enforced: the process runs as the daemon's user and could write anyway.

import { mkdir, open, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, normalize, posix, relative } from 'node:path';
import type { ContainerSpec } from '../../../core/ports.ts';
import type { TaskId } from '../../../core/state/types.ts';
import { isSafeName, type TaskPaths } from './records.ts';
import type { ReadSecret } from './task.ts';

export interface PrepareContext {
  readonly taskId: TaskId;
  readonly paths: TaskPaths;
  readonly searchPath: string;
  readonly readSecret: ReadSecret | null;
  readonly volumePath: (volume: string) => string;
}

/** `WARREN_VOLUME_<NAME>`: the volume's name upper-cased, anything but letters and digits as '_'. */
export const volumeEnvName = (volume: string): string => `WARREN_VOLUME_${volume.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;

/** Creates the task's directories, secret files and mounts; returns the process's environment. */
export async function prepareTask(spec: ContainerSpec, ctx: PrepareContext): Promise<Record<string, string>> {
  const { paths } = ctx;
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  // Leftovers of an earlier run of the same task id (removed, or a create that failed midway).
  await rm(paths.work, { recursive: true, force: true });
  await rm(paths.secrets, { recursive: true, force: true });
  await rm(paths.exitStatus, { force: true });
  await mkdir(paths.work, { mode: 0o755 });
  await mkdir(paths.secrets, { mode: 0o700 });
  for (const log of [paths.stdout, paths.stderr]) await (await open(log, 'a', 0o600)).close();
  await writeSecrets(spec, ctx);
  const volumeEnv = await mountVolumes(spec, ctx);
  return {
    PATH: ctx.searchPath,
    HOME: paths.work,
    WARREN_TASK_ID: ctx.taskId,
    WARREN_SECRETS_DIR: paths.secrets,
    ...volumeEnv,
    ...spec.env,
  };
}

async function writeSecrets(spec: ContainerSpec, ctx: PrepareContext): Promise<void> {
  for (const { secret, target } of spec.secrets) {
    if (!isSafeName(target)) throw new Error(`secret ${secret}: target "${target}" must be a plain file name`);
    if (ctx.readSecret === null) throw new Error(`secret ${secret}: this process runtime was given no secret source`);
    let plaintext: string | Uint8Array;
    try {
      plaintext = await ctx.readSecret(secret, ctx.taskId);
    } catch (error) {
      throw new Error(`secret ${secret}: ${(error as Error).message}`);
    }
    await writeFile(join(ctx.paths.secrets, target), plaintext, { mode: 0o400, flag: 'wx' });
  }
}

async function mountVolumes(spec: ContainerSpec, ctx: PrepareContext): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const { volume, target } of spec.mounts) {
    if (!isSafeName(volume)) throw new Error(`volume "${volume}": the name must be letters, digits, '.', '_' or '-'`);
    const inside = posix.normalize(target).replace(/^\/+/, '');
    const link = join(ctx.paths.work, normalize(inside));
    const rel = relative(ctx.paths.work, link);
    if (inside === '' || inside === '.' || rel.startsWith('..')) {
      throw new Error(`volume ${volume}: mount target "${target}" must be an absolute path below /`);
    }
    const hostPath = ctx.volumePath(volume);
    await mkdir(hostPath, { recursive: true, mode: 0o755 });
    await mkdir(dirname(link), { recursive: true });
    await symlink(hostPath, link);
    env[volumeEnvName(volume)] = hostPath;
  }
  return env;
}

/** Deletes what prepareTask made except the logs. */
export async function unprepareTask(paths: TaskPaths): Promise<void> {
  await rm(paths.secrets, { recursive: true, force: true });
  await rm(paths.work, { recursive: true, force: true });
  await rm(paths.exitStatus, { force: true });
}
