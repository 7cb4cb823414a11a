// The `warren` command, for everything but `warren chaos`: bin/warren.mjs hands `chaos` to
// chaos/cli.ts itself, because adapters/ may import only core/ and adapters/. This program owns
// --version, --help (which lists every command group, chaos included) and the error for an
// unknown command. The daemon commands (cluster init, manager start, worker start) are in
// ./daemon.ts; they run in the foreground until a signal. The client commands (service, task, node,
// secret, volume, events, cluster info) are in ./client.ts; each makes a few calls and exits.
// Invariant: usage errors exit 2 with a message on stderr; --help and --version exit 0.

import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { addClientCommands } from './client.ts';
import { addDaemonCommands } from './daemon.ts';

export interface TextSink {
  write(text: string): unknown;
}

export interface CliIo {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
}

/** Every command group `warren` has, as listed by --help; `chaos` is dispatched by bin/warren.mjs. */
export const commandGroups: readonly { readonly name: string; readonly description: string }[] = [
  { name: 'chaos', description: 'simulated chaos runs of the control plane (warren chaos --help)' },
  { name: 'cluster', description: 'start a new cluster (warren cluster init) or show it (warren cluster info)' },
  { name: 'manager', description: 'run a manager (warren manager start, join) or remove one (warren manager rm)' },
  { name: 'worker', description: 'run a worker: warren worker start' },
  { name: 'service', description: 'create, list, update, scale, roll back and remove services' },
  { name: 'task', description: 'list and inspect tasks' },
  { name: 'node', description: 'list, inspect, update (drain, labels) and remove nodes' },
  { name: 'secret', description: 'create, list, inspect and remove secrets' },
  { name: 'volume', description: 'create, list, inspect and remove volumes' },
  { name: 'events', description: 'stream the cluster\'s changes as they happen' },
];

/** Runs `warren ARGV...` and resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode = 0;
  let daemonExit: Promise<number> | null = null;
  const program = new Command('warren')
    .description('a container orchestrator whose control plane is proven in a deterministic simulator first')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print this help')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .configureHelp({ visibleCommands: () => [] }) // the list below names every group, chaos included
    .addHelpText('after', helpCommands());
  addDaemonCommands(program, io, (code) => {
    daemonExit = code;
  });
  addClientCommands(program, io, (code) => {
    daemonExit = code;
  });
  program
    .argument('[command]')
    .allowExcessArguments()
    .action((command: string | undefined) => {
      if (command === undefined) {
        io.stderr.write(program.helpInformation() + helpCommands());
        exitCode = 2;
      } else if (command === 'help') {
        io.stdout.write(program.helpInformation() + helpCommands());
      } else {
        const known = commandGroups.map((group) => group.name).join(', ');
        io.stderr.write(`error: unknown command '${command}'; the commands are: ${known} (see warren --help)\n`);
        exitCode = 2;
      }
    });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? 0 : 2;
  }
  return daemonExit === null ? exitCode : await daemonExit;
}

function helpCommands(): string {
  const width = Math.max(...commandGroups.map((group) => group.name.length));
  const lines = commandGroups.map((group) => `  ${group.name.padEnd(width)}  ${group.description}`);
  return `\nCommands:\n${lines.join('\n')}\n`;
}

function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  const version = (JSON.parse(text) as { version?: unknown }).version;
  return typeof version === 'string' ? version : 'unknown';
}
