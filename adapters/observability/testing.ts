// For the tests: a strict parser of the Prometheus text exposition format (version 0.0.4), so a test
// can say "this parses as Prometheus text" and read sample values back. It rejects what a Prometheus
// server would reject or mis-read: malformed lines, samples without a preceding TYPE, a TYPE given
// twice, duplicate series, and histograms whose buckets are not cumulative or whose +Inf bucket does
// not equal the count.

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  readonly type: string;
  readonly help: string | null;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
};

export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const seriesSeen = new Set<string>();
  const lines = text.split('\n');
  if (lines[lines.length - 1] !== '') throw new Error('the exposition must end with a newline');
  lines.forEach((line, i) => {
    const at = `line ${i + 1} (${JSON.stringify(line)})`;
    if (line === '') return;
    if (line.startsWith('#')) return parseComment(line, at, families);
    const sample = parseSample(line, at);
    const family = familyOf(sample.name, families);
    if (family === undefined) throw new Error(`${at}: sample without a TYPE line for its family`);
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    if (seriesSeen.has(key)) throw new Error(`${at}: duplicate series`);
    seriesSeen.add(key);
    family.samples.push(sample);
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** The value of one series, or undefined when absent. Labels must match exactly. */
export function valueOf(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = familyOf(name, families);
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return family?.samples.find((sample) => sample.name === name && JSON.stringify(Object.entries(sample.labels).sort()) === wanted)?.value;
}

function parseComment(line: string, at: string, families: Map<string, MetricFamily>): void {
  const match = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
  if (match === null) return; // a plain comment
  const [, keyword, name, rest = ''] = match;
  if (!METRIC_NAME.test(name!)) throw new Error(`${at}: invalid metric name`);
  const existing = families.get(name!);
  if (keyword === 'TYPE') {
    if (!TYPES.has(rest)) throw new Error(`${at}: unknown type ${JSON.stringify(rest)}`);
    if (existing !== undefined && existing.type !== 'untyped') throw new Error(`${at}: second TYPE for ${name}`);
    if (existing !== undefined && existing.samples.length > 0) throw new Error(`${at}: TYPE after samples of ${name}`);
    families.set(name!, { name: name!, type: rest, help: existing?.help ?? null, samples: [] });
  } else {
    if (existing?.help != null) throw new Error(`${at}: second HELP for ${name}`);
    families.set(name!, { name: name!, type: existing?.type ?? 'untyped', help: rest, samples: existing?.samples ?? [] });
  }
}

function parseSample(line: string, at: string): Sample {
  const nameEnd = line.search(/[{ ]/);
  if (nameEnd <= 0) throw new Error(`${at}: no metric name`);
  const name = line.slice(0, nameEnd);
  if (!METRIC_NAME.test(name)) throw new Error(`${at}: invalid metric name`);
  const labels: Record<string, string> = {};
  let i = nameEnd;
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const eq = line.indexOf('=', i);
      if (eq === -1) throw new Error(`${at}: label without '='`);
      const labelName = line.slice(i, eq);
      if (!LABEL_NAME.test(labelName)) throw new Error(`${at}: invalid label name ${JSON.stringify(labelName)}`);
      if (labelName in labels) throw new Error(`${at}: label ${labelName} given twice`);
      if (line[eq + 1] !== '"') throw new Error(`${at}: label value not quoted`);
      let value = '';
      let j = eq + 2;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] !== '\\') { value += line[j]; continue; }
        const escaped = line[++j];
        if (escaped === 'n') value += '\n';
        else if (escaped === '\\' || escaped === '"') value += escaped;
        else throw new Error(`${at}: invalid escape \\${escaped}`);
      }
      if (j >= line.length) throw new Error(`${at}: unterminated label value`);
      labels[labelName] = value;
      i = j + 1;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`${at}: expected ',' or '}' after a label`);
    }
    i++;
  }
  if (line[i] !== ' ') throw new Error(`${at}: expected a space before the value`);
  const fields = line.slice(i + 1).split(' ');
  if (fields.length < 1 || fields.length > 2) throw new Error(`${at}: expected a value and an optional timestamp`);
  const value = parseValue(fields[0]!, at);
  if (fields.length === 2 && !/^-?\d+$/.test(fields[1]!)) throw new Error(`${at}: invalid timestamp`);
  return { name, labels, value };
}

function parseValue(text: string, at: string): number {
  // As Prometheus reads values (Go's strconv.ParseFloat): Inf and NaN in any case (prom-client
  // writes an empty gauge as "Nan").
  const special = /^([-+]?)(inf|infinity|nan)$/i.exec(text);
  if (special !== null) return special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${at}: invalid value ${JSON.stringify(text)}`);
  return Number(text);
}

function familyOf(sampleName: string, families: Map<string, MetricFamily>): MetricFamily | undefined {
  const exact = families.get(sampleName);
  if (exact !== undefined && !(exact.type in SUFFIXES)) return exact;
  for (const [type, suffixes] of Object.entries(SUFFIXES)) {
    for (const suffix of suffixes) {
      if (!sampleName.endsWith(suffix)) continue;
      const family = families.get(sampleName.slice(0, -suffix.length));
      if (family?.type === type) return family;
    }
  }
  return undefined;
}

function checkHistogram(family: MetricFamily): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (sample.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      entry.buckets.push([le === '+Inf' ? Infinity : parseValue(le, `${family.name} le`), sample.value]);
    } else if (sample.name.endsWith('_count')) entry.count = sample.value;
    else entry.sum = sample.value;
  }
  for (const [key, { buckets, count, sum }] of series) {
    const where = `${family.name}${key}`;
    if (count === undefined || sum === undefined) throw new Error(`${where}: _count or _sum missing`);
    buckets.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i]![1] < buckets[i - 1]![1]) throw new Error(`${where}: bucket le=${buckets[i]![0]} holds fewer than le=${buckets[i - 1]![0]}`);
    }
    const last = buckets[buckets.length - 1];
    if (last === undefined || last[0] !== Infinity) throw new Error(`${where}: no +Inf bucket`);
    if (last[1] !== count) throw new Error(`${where}: +Inf bucket ${last[1]} differs from _count ${count}`);
  }
}
