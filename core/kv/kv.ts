// A small replicated key-value state machine (put, get, compare-and-set, delete) used by the
// simulator's clients to exercise Raft end to end. Commands are JSON strings in log entries; apply
// is deterministic, and snapshot/restore round-trips byte-identically (keys in sorted order).

export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string };

export type KvResult = { readonly ok: true } | { readonly ok: false; readonly current: string | null };

export class KvStore {
  private readonly data = new Map<string, string>();

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  get size(): number {
    return this.data.size;
  }

  apply(command: KvCommand): KvResult {
    switch (command.op) {
      case 'put':
        this.data.set(command.key, command.value);
        return { ok: true };
      case 'delete':
        this.data.delete(command.key);
        return { ok: true };
      case 'cas': {
        const current = this.get(command.key);
        if (current !== command.expected) return { ok: false, current };
        this.data.set(command.key, command.value);
        return { ok: true };
      }
    }
  }

  snapshot(): string {
    const keys = [...this.data.keys()].sort();
    return JSON.stringify(keys.map((k) => [k, this.data.get(k)!]));
  }

  static restore(snapshot: string): KvStore {
    const store = new KvStore();
    if (snapshot === '') return store;
    const pairs = JSON.parse(snapshot) as [string, string][];
    for (const [k, v] of pairs) store.data.set(k, v);
    return store;
  }
}

/** Parse a command from an entry; a malformed one is an invariant violation upstream. */
export function parseKvCommand(data: string): KvCommand {
  return JSON.parse(data) as KvCommand;
}
