// The architecture rules of DESIGN.md as pure functions over (path, source text), so that
// arch.test.ts can prove each rule on small inline sources before running it over the real tree.
// Two guards: the one-way import direction between top folders, and the determinism rules of
// core/ and sim/. Both work on tokens, so comments never count and string literals count only
// where they are import specifiers.
// Paths are project-relative with forward slashes (`core/raft/log.ts`).

import { builtinModules } from 'node:module';
import { posix } from 'node:path';

// ---------------------------------------------------------------------------------------------
// Tokenizer: just enough of TypeScript's lexical grammar to tell code from comments and strings.

export type TokenKind = 'identifier' | 'punctuator' | 'number' | 'string' | 'template' | 'regex';

/** `value` is the text of identifiers, punctuators and numbers, and the raw body of strings. */
export interface Token {
  readonly kind: TokenKind;
  readonly value: string;
  readonly line: number;
}

// After these keywords a `/` starts a regular expression, not a division.
const KEYWORDS_BEFORE_EXPRESSION = new Set([
  'return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do',
  'else', 'yield', 'await',
]);

const isIdentifierStart = (c: string): boolean => /[A-Za-z_$]/.test(c) || c.charCodeAt(0) > 0x7f;
const isIdentifierPart = (c: string): boolean => /[\w$]/.test(c) || c.charCodeAt(0) > 0x7f;

/**
 * Splits source text into tokens, dropping whitespace and comments. A template literal without
 * substitutions becomes one `string` token; one with substitutions becomes a `template` token
 * followed by the tokens of the code inside each `${...}`, so that code is still scanned.
 */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  // One entry per open `${`: the brace depth at which its closing `}` resumes the template.
  const templateResumeDepths: number[] = [];
  let braceDepth = 0;
  let line = 1;
  let i = 0;

  const countLines = (from: number, to: number): void => {
    for (let k = from; k < to; k++) if (source[k] === '\n') line++;
  };
  const regexAllowed = (): boolean => {
    const previous = tokens[tokens.length - 1];
    if (previous === undefined) return true;
    if (previous.kind === 'identifier') return KEYWORDS_BEFORE_EXPRESSION.has(previous.value);
    if (previous.kind === 'punctuator') return !/^[)\]}]$/.test(previous.value);
    return false;
  };
  // Reads template characters from i (just after a backtick or a closing `}`) up to the closing
  // backtick or the next `${`. Returns true if it stopped at `${`.
  const readTemplateChunk = (): boolean => {
    const start = i;
    while (i < source.length) {
      const c = source[i];
      if (c === '\\') { i += 2; continue; }
      if (c === '`') { i++; countLines(start, i); return false; }
      if (c === '$' && source[i + 1] === '{') { i += 2; countLines(start, i); return true; }
      i++;
    }
    countLines(start, i);
    return false;
  };

  while (i < source.length) {
    const c = source[i];
    const startLine = line;
    if (c === '\n') { line++; i++; continue; }
    if (/\s/.test(c)) { i++; continue; }
    if (c === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? source.length : end + 2;
      countLines(i, stop);
      i = stop;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < source.length && source[j] !== c && source[j] !== '\n') j += source[j] === '\\' ? 2 : 1;
      tokens.push({ kind: 'string', value: source.slice(i + 1, j), line: startLine });
      countLines(i, j);
      i = j + 1;
      continue;
    }
    if (c === '`') {
      const bodyStart = i + 1;
      i++;
      if (readTemplateChunk()) {
        tokens.push({ kind: 'template', value: source.slice(bodyStart, i - 2), line: startLine });
        templateResumeDepths.push(braceDepth);
        braceDepth++;
      } else {
        tokens.push({ kind: 'string', value: source.slice(bodyStart, i - 1), line: startLine });
      }
      continue;
    }
    if (c === '}' && templateResumeDepths.length > 0 &&
        templateResumeDepths[templateResumeDepths.length - 1] === braceDepth - 1) {
      braceDepth--;
      i++;
      if (readTemplateChunk()) braceDepth++;
      else templateResumeDepths.pop();
      continue;
    }
    if (c === '/' && regexAllowed()) {
      let j = i + 1;
      let inClass = false;
      while (j < source.length && source[j] !== '\n') {
        const d = source[j];
        if (d === '\\') { j += 2; continue; }
        if (d === '[') inClass = true;
        else if (d === ']') inClass = false;
        else if (d === '/' && !inClass) break;
        j++;
      }
      j++;
      while (j < source.length && isIdentifierPart(source[j])) j++;
      tokens.push({ kind: 'regex', value: source.slice(i, j), line: startLine });
      i = j;
      continue;
    }
    if (isIdentifierStart(c)) {
      let j = i + 1;
      while (j < source.length && isIdentifierPart(source[j])) j++;
      tokens.push({ kind: 'identifier', value: source.slice(i, j), line: startLine });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(source[i + 1] ?? ''))) {
      let j = i + 1;
      while (j < source.length && /[\w.]/.test(source[j])) j++;
      tokens.push({ kind: 'number', value: source.slice(i, j), line: startLine });
      i = j;
      continue;
    }
    if (c === '{') braceDepth++;
    if (c === '}') braceDepth--;
    tokens.push({ kind: 'punctuator', value: c, line: startLine });
    i++;
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Import extraction.

export interface ImportReference {
  /** The specifier as written, or null for a dynamic import whose argument is not a literal. */
  readonly specifier: string | null;
  readonly line: number;
}

const isPunctuator = (token: Token | undefined, value: string): boolean =>
  token !== undefined && token.kind === 'punctuator' && token.value === value;
const isIdentifier = (token: Token | undefined, value?: string): boolean =>
  token !== undefined && token.kind === 'identifier' && (value === undefined || token.value === value);
const isStringLiteral = (token: Token | undefined): token is Token =>
  token !== undefined && token.kind === 'string';

/**
 * Finds the `from '...'` that ends an import or export clause starting at `start`
 * (`x`, `type x`, `{ a, b as c }`, `* as ns`, `x, { y }`). Returns null when the clause is not
 * one (`export const x`, `export { a };` without `from`).
 */
function findFromSpecifier(tokens: readonly Token[], start: number): Token | null {
  let k = start;
  while (k < tokens.length) {
    const token = tokens[k];
    if (isIdentifier(token, 'from') && isStringLiteral(tokens[k + 1])) return tokens[k + 1];
    if (isPunctuator(token, '{')) {
      let depth = 1;
      k++;
      while (k < tokens.length && depth > 0) {
        if (isPunctuator(tokens[k], '{')) depth++;
        if (isPunctuator(tokens[k], '}')) depth--;
        k++;
      }
      // In a clause a brace group is followed only by `from`; anything else was a declaration
      // body (`export enum E { ... }`), and a later statement's `from` must not be taken for it.
      return isIdentifier(tokens[k], 'from') && isStringLiteral(tokens[k + 1]) ? tokens[k + 1] : null;
    }
    if (isIdentifier(token) || isPunctuator(token, ',') || isPunctuator(token, '*')) { k++; continue; }
    return null;
  }
  return null;
}

/** Every module reference: static imports and re-exports, dynamic `import(...)`, `require(...)`. */
export function findImports(source: string): ImportReference[] {
  const tokens = tokenize(source);
  const references: ImportReference[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const token = tokens[k];
    if (token.kind !== 'identifier' || isPunctuator(tokens[k - 1], '.')) continue;
    const next = tokens[k + 1];
    if (token.value === 'import' || token.value === 'require') {
      if (isPunctuator(next, '(')) {
        const argument = tokens[k + 2];
        const literal = isStringLiteral(argument) &&
          (isPunctuator(tokens[k + 3], ')') || isPunctuator(tokens[k + 3], ','));
        references.push({ specifier: literal ? argument.value : null, line: (argument ?? token).line });
        continue;
      }
      if (token.value === 'require') continue;
      if (isStringLiteral(next)) { references.push({ specifier: next.value, line: next.line }); continue; }
      if (isPunctuator(next, '.')) continue; // import.meta
    } else if (token.value !== 'export') {
      continue;
    }
    const from = findFromSpecifier(tokens, k + 1);
    if (from !== null) references.push({ specifier: from.value, line: from.line });
  }
  return references;
}

// ---------------------------------------------------------------------------------------------
// Rule 1: one-way imports between top folders.

export const TOP_FOLDERS = ['core', 'sim', 'chaos', 'adapters', 'bench', 'runbooks'] as const;
export type TopFolder = (typeof TOP_FOLDERS)[number];

/** Bare packages that sim/ may import (a seeded generator is the only one it needs). */
export const SIM_PACKAGES: readonly string[] = ['seedrandom'];

/**
 * Test tooling that test files of core/ and sim/ may import beyond their folder's rule. DESIGN.md
 * puts unit and property tests next to the code, run by node's test runner with fast-check, so a
 * core test must be able to import these; a non-test file may not, and nothing else is allowed.
 */
export const TEST_TOOLING: readonly string[] = ['node:test', 'node:assert', 'node:assert/strict', 'fast-check'];

export type ImportTarget =
  | { readonly kind: 'project'; readonly folder: string } // a top folder, or '(root)' for root files
  | { readonly kind: 'outside' } // a relative path that leaves the project, an absolute path or URL
  | { readonly kind: 'builtin'; readonly name: string }
  | { readonly kind: 'package'; readonly name: string }
  | { readonly kind: 'unknown' }; // a dynamic import of something other than a literal

const BUILTINS = new Set(builtinModules);

export const isTestFile = (file: string): boolean => /\.test\.[cm]?ts$/.test(file);

export function topFolderOf(file: string): TopFolder | null {
  const first = file.split('/')[0];
  return (TOP_FOLDERS as readonly string[]).includes(first) ? (first as TopFolder) : null;
}

export function classifyImport(file: string, specifier: string | null): ImportTarget {
  if (specifier === null) return { kind: 'unknown' };
  if (specifier.startsWith('./') || specifier.startsWith('../') || specifier === '.' || specifier === '..') {
    const resolved = posix.normalize(posix.join(posix.dirname(file), specifier));
    if (resolved === '..' || resolved.startsWith('../')) return { kind: 'outside' };
    const segments = resolved.split('/');
    const isFolder = segments.length > 1 || (TOP_FOLDERS as readonly string[]).includes(segments[0]);
    return { kind: 'project', folder: isFolder ? segments[0] : '(root)' };
  }
  if (specifier.startsWith('node:')) return { kind: 'builtin', name: specifier };
  if (specifier.startsWith('/') || /^[a-z][a-z0-9+.-]*:/i.test(specifier)) return { kind: 'outside' };
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  if (BUILTINS.has(name)) return { kind: 'builtin', name: `node:${name}` };
  return { kind: 'package', name };
}

interface FolderRule {
  readonly folders: readonly string[];
  readonly packages: 'any' | readonly string[];
  readonly builtins: boolean;
  readonly text: string;
}

function folderRule(file: string, folder: TopFolder): FolderRule | null {
  switch (folder) {
    case 'core':
      return { folders: ['core'], packages: [], builtins: false, text: 'core imports only core: no packages, no node: modules' };
    case 'sim':
      return { folders: ['core', 'sim'], packages: SIM_PACKAGES, builtins: false, text: `sim imports core and sim, packages only ${SIM_PACKAGES.join(', ')}` };
    case 'chaos':
      return file.startsWith('chaos/real/')
        ? { folders: ['core', 'sim', 'chaos', 'adapters'], packages: 'any', builtins: true, text: 'chaos/real imports core, sim, chaos and adapters' }
        : { folders: ['core', 'sim', 'chaos'], packages: 'any', builtins: true, text: 'chaos imports core, sim and chaos; adapters only from chaos/real/' };
    case 'adapters':
      return { folders: ['core', 'adapters'], packages: 'any', builtins: true, text: 'adapters imports core and adapters' };
    case 'bench':
    case 'runbooks':
      return null;
  }
}

function describeTarget(specifier: string | null, target: ImportTarget): string {
  if (target.kind === 'unknown') return 'a non-literal dynamic import';
  return `'${specifier}'`;
}

function allowedBy(rule: FolderRule, target: ImportTarget): boolean {
  switch (target.kind) {
    case 'project': return rule.folders.includes(target.folder);
    case 'builtin': return rule.builtins;
    case 'package': return rule.packages === 'any' || rule.packages.includes(target.name);
    case 'outside':
    case 'unknown': return false;
  }
}

/** Violations of the import direction, each as `file:line imports X (rule)`. */
export function checkImportRules(file: string, source: string): string[] {
  const folder = topFolderOf(file);
  if (folder === null) return [];
  const rule = folderRule(file, folder);
  if (rule === null) return [];
  const violations: string[] = [];
  for (const reference of findImports(source)) {
    if (isTestFile(file) && reference.specifier !== null && TEST_TOOLING.includes(reference.specifier)) continue;
    const target = classifyImport(file, reference.specifier);
    if (allowedBy(rule, target)) continue;
    violations.push(`${file}:${reference.line} imports ${describeTarget(reference.specifier, target)} (${rule.text})`);
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------
// Rule 2: determinism in core/ and sim/.

export const DETERMINISTIC_FOLDERS: readonly TopFolder[] = ['core', 'sim'];

// Globals reached as a bare name (not as `x.name`, which is some object's own member).
const BANNED_GLOBALS = new Set([
  'Date', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'globalThis',
]);
// Globals banned when used as objects (`process.env`, `performance.now()`): the bare words
// `process` and `performance` are ordinary domain names (a history event has a `process` id).
// `crypto` is not in DESIGN.md's list but its global `randomUUID`/`getRandomValues` are
// randomness reached without any import.
const BANNED_OBJECTS = new Set(['process', 'performance', 'crypto']);
// Static members banned on a global: `Math.random`, `Promise.race`, `Promise.any`.
const BANNED_MEMBERS: ReadonlyMap<string, readonly string[]> = new Map([
  ['Math', ['random']],
  ['Promise', ['race', 'any']],
]);

/** The member name after `name.` or `name?.` at tokens[k], or null if there is none. */
function memberAfter(tokens: readonly Token[], k: number): string | null {
  let m = k + 1;
  if (isPunctuator(tokens[m], '?')) m++;
  if (!isPunctuator(tokens[m], '.')) return null;
  const member = tokens[m + 1];
  return isIdentifier(member) ? member.value : null;
}

/** What a token at tokens[k] uses that the determinism rules forbid, or null. */
function bannedUseAt(tokens: readonly Token[], k: number): string | null {
  const token = tokens[k];
  if (token.kind !== 'identifier' || isPunctuator(tokens[k - 1], '.')) return null;
  if (BANNED_GLOBALS.has(token.value)) return token.value;
  const next = tokens[k + 1];
  if (BANNED_OBJECTS.has(token.value) &&
      (isPunctuator(next, '.') || isPunctuator(next, '[') || (isPunctuator(next, '?') && isPunctuator(tokens[k + 2], '.')))) {
    return `${token.value}.`;
  }
  if (token.value === 'require' && isPunctuator(next, '(')) return 'require(';
  const members = BANNED_MEMBERS.get(token.value);
  const member = memberAfter(tokens, k);
  if (members !== undefined && member !== null && members.includes(member)) return `${token.value}.${member}`;
  return null;
}

/** Violations of the determinism rules, each as `file:line: found X`. Only core/ and sim/. */
export function checkDeterminismRules(file: string, source: string): string[] {
  const folder = topFolderOf(file);
  if (folder === null || !DETERMINISTIC_FOLDERS.includes(folder)) return [];
  const findings: { readonly line: number; readonly what: string }[] = [];
  const tokens = tokenize(source);
  for (let k = 0; k < tokens.length; k++) {
    const found = bannedUseAt(tokens, k);
    if (found !== null) findings.push({ line: tokens[k].line, what: found });
  }
  for (const reference of findImports(source)) {
    if (reference.specifier === null) continue;
    if (isTestFile(file) && TEST_TOOLING.includes(reference.specifier)) continue;
    const target = classifyImport(file, reference.specifier);
    if (target.kind === 'builtin') findings.push({ line: reference.line, what: `${target.name} import` });
  }
  findings.sort((a, b) => a.line - b.line); // stable: same-line findings keep source order
  return findings.map((finding) => `${file}:${finding.line}: found ${finding.what}`);
}
