// Small statistics helpers shared by the benchmarks.
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

export function summary(samples: readonly number[]): { p50: number; p90: number; p99: number; n: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), n: s.length };
}

export function fmtMs(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)} ms` : "-";
}

export function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : "-";
}

/** Print rows as an aligned text table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => c.padEnd(w[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), line(w.map((n) => "-".repeat(n))), ...rows.map(line)].join("\n");
}
