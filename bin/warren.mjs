#!/usr/bin/env node
// The `warren` command. `warren chaos ...` goes to chaos/cli.ts, run through tsx; everything else to
// adapters/cli/main.ts, which may not import chaos/ (adapters import only core and adapters), so the
// split is made here.
// The daemons and the client commands run from one JavaScript file bundled by esbuild from
// adapters/cli/main.ts (adapters/cli/main.bundle.mjs, beside its source so the paths it resolves
// from import.meta.url stay right), built here whenever a source is newer than it: a daemon then
// carries no TypeScript loader (tsx's loader thread costs about 35 MB of memory per process) and
// starts faster. If the bundle cannot be built, the sources run through tsx as before.
// Invariant: the bundle is replaced atomically (written aside, then renamed), so daemons started
// together never read a half-written one.
import { existsSync, readdirSync, renameSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const args = process.argv.slice(2);
const root = fileURLToPath(new URL('..', import.meta.url));
const bundle = join(root, 'adapters', 'cli', 'main.bundle.mjs');

/** The newest modification time of the sources the bundle is made of. */
function newestSource(dir, newest = 0) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = newestSource(path, newest);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

async function bundledMain() {
  if (process.env.WARREN_NO_BUNDLE === '1') return null;
  try {
    const built = existsSync(bundle) ? statSync(bundle).mtimeMs : 0;
    const sources = Math.max(newestSource(join(root, 'core')), newestSource(join(root, 'adapters')), statSync(join(root, 'package.json')).mtimeMs);
    if (built < sources) {
      const { build } = await import('esbuild');
      const aside = `${bundle}.${process.pid}.tmp`;
      await build({
        entryPoints: [join(root, 'adapters', 'cli', 'main.ts')], outfile: aside, bundle: true, platform: 'node', format: 'esm',
        target: 'node20', packages: 'external', logLevel: 'silent',
      });
      renameSync(aside, bundle);
    }
    return (await import(bundle)).main;
  } catch {
    return null;
  }
}

if (args[0] === 'chaos') {
  const { register } = await import('tsx/esm/api');
  register();
  const { runChaosCli } = await import('../chaos/cli.ts');
  process.exitCode = await runChaosCli(args.slice(1));
} else {
  let main = await bundledMain();
  if (main === null) {
    const { register } = await import('tsx/esm/api');
    register();
    ({ main } = await import('../adapters/cli/main.ts'));
  }
  process.exitCode = await main(args, { stdout: process.stdout, stderr: process.stderr });
}
