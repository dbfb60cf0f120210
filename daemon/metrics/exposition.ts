/**
 * The Prometheus text exposition format (version 0.0.4), written: metric families with their
 * `# HELP` and `# TYPE` lines, samples with escaped label values, histograms as cumulative
 * `_bucket{le=…}` samples ending in `+Inf`, then `_sum` and `_count`. Pure.
 */

/** What a scrape answers with: the content type Prometheus expects for this format. */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  /** Appended to the family name (`_bucket`, `_sum`, `_count` of a histogram); none for others. */
  readonly suffix?: "_bucket" | "_sum" | "_count";
  readonly labels?: Labels;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge" | "histogram";
  readonly samples: readonly Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A family name or label name that the format does not allow is a bug of the caller. */
function checkName(name: string, re: RegExp, what: string): void {
  if (!re.test(name)) throw new Error(`invalid Prometheus ${what} ${JSON.stringify(name)}`);
}

function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function escapeLabelValue(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** A sample value as the format spells it: integers plainly, `+Inf`, `-Inf`, `NaN`. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

function formatLabels(labels: Labels | undefined): string {
  if (!labels) return "";
  const keys = Object.keys(labels);
  if (keys.length === 0) return "";
  const parts = keys.map((k) => {
    checkName(k, LABEL, "label name");
    return `${k}="${escapeLabelValue(labels[k] ?? "")}"`;
  });
  return `{${parts.join(",")}}`;
}

/** The families as one exposition text (each family once; families without samples keep their HELP/TYPE). */
export function renderFamilies(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const f of families) {
    checkName(f.name, NAME, "metric name");
    if (seen.has(f.name)) throw new Error(`metric family ${f.name} rendered twice`);
    seen.add(f.name);
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) out.push(`${f.name}${s.suffix ?? ""}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  }
  return `${out.join("\n")}\n`;
}

/**
 * The samples of one histogram series: `bounds` are the upper bounds, `cumulative[i]` the number
 * of observations <= bounds[i]; the `+Inf` bucket is `count`.
 */
export function histogramSamples(
  bounds: readonly number[],
  cumulative: readonly number[],
  count: number,
  sum: number,
  labels: Labels = {},
): Sample[] {
  const out: Sample[] = bounds.map((b, i) => ({
    suffix: "_bucket",
    labels: { ...labels, le: formatValue(b) },
    value: cumulative[i] ?? 0,
  }));
  out.push({ suffix: "_bucket", labels: { ...labels, le: "+Inf" }, value: count });
  out.push({ suffix: "_sum", labels, value: sum });
  out.push({ suffix: "_count", labels, value: count });
  return out;
}
