#!/usr/bin/env node
// The `warren` command: registers tsx so the TypeScript sources run as they are, then hands over.
// `warren chaos ...` goes to chaos/cli.ts; everything else to adapters/cli/main.ts, which may not
// import chaos/ (adapters import only core and adapters), so the split is made here.
import { register } from 'tsx/esm/api';
register();

const args = process.argv.slice(2);
if (args[0] === 'chaos') {
  const { runChaosCli } = await import('../chaos/cli.ts');
  process.exitCode = await runChaosCli(args.slice(1));
} else {
  const { main } = await import('../adapters/cli/main.ts');
  process.exitCode = await main(args, { stdout: process.stdout, stderr: process.stderr });
}
