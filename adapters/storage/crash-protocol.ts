// What crash-child.ts and crash.test.ts agree on: entry data and the snapshot digest, both functions
// of (index, term) only, so the parent can check every recovered byte against its own model.

export const FNV_OFFSET = 0x811c9dc5;

/** FNV-1a over "index:term;", continued from `state`. */
export function digestStep(state: number, index: number, term: number): number {
  let hash = state >>> 0;
  const text = `${index}:${term};`;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

export function entryData(index: number, term: number): string {
  return `e${index}t${term}:${'z'.repeat(80)}`;
}
