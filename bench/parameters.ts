// Benchmark parameters: defaults plus overrides, each an integer >= 1 (or >= 0 where named), checked
// once with a message naming the benchmark, the parameter and what is expected.

export function integerParameters<T extends object>(benchmark: string, defaults: T, overrides: Partial<T>, zeroAllowed: readonly string[] = []): T {
  const parameters: T = { ...defaults, ...overrides };
  for (const [key, value] of Object.entries(parameters)) {
    if (typeof value !== 'number' && typeof defaults[key as keyof T] !== 'number') continue;
    const min = zeroAllowed.includes(key) ? 0 : 1;
    if (!Number.isInteger(value) || (value as number) < min) {
      throw new RangeError(`${benchmark} benchmark parameter ${key} must be an integer >= ${min}, got ${String(value)}`);
    }
  }
  return parameters;
}
