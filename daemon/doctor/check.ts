/**
 * What a doctor check says: one row of the report. `fail` makes `weft doctor` exit 1; `warn` is
 * worth knowing but breaks nothing; `skip` says why the check does not apply to this node.
 */

export type Status = "ok" | "warn" | "fail" | "skip";

export interface CheckResult {
  /** Stable id for --json (`subnet-env`, `peer/10.244.2.0/24`, ...). */
  readonly id: string;
  /** Short human title. */
  readonly title: string;
  readonly status: Status;
  /** What was found. */
  readonly summary: string;
  /** For warn/fail: what to do about it. */
  readonly fix?: string;
}

export function ok(id: string, title: string, summary: string): CheckResult {
  return { id, title, status: "ok", summary };
}

export function skip(id: string, title: string, summary: string): CheckResult {
  return { id, title, status: "skip", summary };
}

export function fail(id: string, title: string, summary: string, fix: string): CheckResult {
  return { id, title, status: "fail", summary, fix };
}

export function warn(id: string, title: string, summary: string, fix: string): CheckResult {
  return { id, title, status: "warn", summary, fix };
}

/** 0 when nothing failed, 1 otherwise. */
export function exitCode(results: readonly CheckResult[]): number {
  return results.some((r) => r.status === "fail") ? 1 : 0;
}
