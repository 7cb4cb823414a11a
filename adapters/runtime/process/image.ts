// What an "image" is to the process runtime. There are no images to download: an image names a
// program already on the machine, written `process:<executable>`, where <executable> is a name
// looked up on PATH (`process:node`) or an absolute path (`process:/opt/app/bin/server`).
// Pulling such an image verifies that the program exists and is executable; any other image name
// (say `nginx:1.25`) cannot run here and its pull fails with "image ... not found: ...", which the
// agent takes as a missing image (the task is rejected, not retried).
// The command line follows Docker's entrypoint/cmd rule: a non-empty spec.command replaces the
// image's program (command[0] is resolved like the image's executable) and spec.args follow it.
// A pull resolves against the runtime's PATH (a pull does not see the spec); a create resolves
// again against the task's own PATH when spec.env sets one, since that is the PATH it runs with.

import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import type { ContainerSpec } from '../../../core/ports.ts';

export const imageScheme = 'process:';

export type Resolved<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const failure = (error: string): Resolved<never> => ({ ok: false, error });

/** The executable an image names, or why the process runtime cannot run it. */
export function executableOfImage(image: string): Resolved<string> {
  if (!image.startsWith(imageScheme) || image.length === imageScheme.length) {
    return failure(`image ${image} not found: the process runtime runs only images named ${imageScheme}<executable> ` +
      `(an executable on PATH or an absolute path, e.g. ${imageScheme}node)`);
  }
  return { ok: true, value: image.slice(imageScheme.length) };
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** An absolute path to the program: itself if absolute, else the first match on searchPath. */
export async function resolveExecutable(name: string, searchPath: string): Promise<Resolved<string>> {
  if (isAbsolute(name)) {
    return (await isExecutableFile(name)) ? { ok: true, value: name } : failure(`${name} is not an executable file`);
  }
  if (name.includes('/')) return failure(`"${name}" must be a name found on PATH or an absolute path`);
  for (const dir of searchPath.split(delimiter)) {
    if (dir === '' || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    if (await isExecutableFile(candidate)) return { ok: true, value: candidate };
  }
  return failure(`no executable "${name}" on PATH (${searchPath})`);
}

/** What a pull of the image means here: the program it names can be found and executed. */
export async function checkImage(image: string, searchPath: string): Promise<Resolved<string>> {
  const named = executableOfImage(image);
  if (!named.ok) return named;
  const resolved = await resolveExecutable(named.value, searchPath);
  return resolved.ok ? resolved : failure(`image ${image} not found: ${resolved.error}`);
}

/** The program and arguments a task runs, resolved against searchPath. */
export async function commandLineOf(spec: ContainerSpec, searchPath: string): Promise<Resolved<{ executable: string; argv: string[] }>> {
  const named = executableOfImage(spec.image);
  if (!named.ok) return named;
  const [program, ...commandArgs] = spec.command.length > 0 ? spec.command : [named.value];
  const resolved = await resolveExecutable(program, searchPath);
  if (!resolved.ok) return failure(`cannot run ${spec.command.length > 0 ? 'command' : 'image'} program: ${resolved.error}`);
  return { ok: true, value: { executable: resolved.value, argv: [...commandArgs, ...spec.args] } };
}
