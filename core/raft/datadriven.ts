// The golden-file layout of interaction scripts (in the style of etcd's datadriven package), kept
// apart from what the commands mean. A script is prose and blocks:
//   - prose: blank lines and lines starting with '#', kept verbatim;
//   - a block: one command line, a line '----', then the expected output, which runs up to the next
//     blank line or the end of the file (so an output never contains a blank line).
// Parsing then rendering a script gives back the same text, so a rewrite only touches outputs.

export interface Block {
  /** 1-based line number of the command. */
  readonly line: number;
  readonly command: string;
  readonly expected: readonly string[];
}

export type Chunk = { readonly kind: 'prose'; readonly text: string } | { readonly kind: 'block'; readonly block: Block };

export class ScriptSyntaxError extends Error {
  override readonly name = 'ScriptSyntaxError';
}

export const separator = '----';

export function parseScript(text: string): Chunk[] {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  // A final newline is not an extra empty prose line.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const chunks: Chunk[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) {
      chunks.push({ kind: 'prose', text: line });
      i++;
      continue;
    }
    if (line === separator) throw new ScriptSyntaxError(`line ${i + 1}: '${separator}' without a command before it`);
    if (lines[i + 1] !== separator) {
      throw new ScriptSyntaxError(`line ${i + 1}: command '${line}' must be followed by a '${separator}' line and its expected output`);
    }
    const expected: string[] = [];
    let j = i + 2;
    while (j < lines.length && lines[j]!.trim() !== '') expected.push(lines[j++]!);
    chunks.push({ kind: 'block', block: { line: i + 1, command: line.trim(), expected } });
    i = j;
  }
  return chunks;
}

/** The script text with each block's output replaced by `outputs[k]` (k-th block), if given. */
export function renderScript(chunks: readonly Chunk[], outputs?: readonly (readonly string[])[]): string {
  const out: string[] = [];
  let k = 0;
  for (const chunk of chunks) {
    if (chunk.kind === 'prose') {
      out.push(chunk.text);
      continue;
    }
    const block = chunk.block;
    out.push(block.command, separator, ...(outputs?.[k] ?? block.expected));
    k++;
  }
  return out.join('\n') + '\n';
}

/** A line diff (longest common subsequence): ' ' same, '-' only expected, '+' only actual. */
export function diffLines(expected: readonly string[], actual: readonly string[]): string {
  const n = expected.length;
  const m = actual.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let a = n - 1; a >= 0; a--) {
    for (let b = m - 1; b >= 0; b--) {
      lcs[a]![b] = expected[a] === actual[b] ? lcs[a + 1]![b + 1]! + 1 : Math.max(lcs[a + 1]![b]!, lcs[a]![b + 1]!);
    }
  }
  const out: string[] = [];
  let a = 0;
  let b = 0;
  while (a < n || b < m) {
    if (a < n && b < m && expected[a] === actual[b]) {
      out.push(`  ${expected[a++]}`);
      b++;
    } else if (a < n && (b === m || lcs[a + 1]![b]! >= lcs[a]![b + 1]!)) {
      out.push(`- ${expected[a++]}`);
    } else {
      out.push(`+ ${actual[b++]}`);
    }
  }
  return out.join('\n');
}
