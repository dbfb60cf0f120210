/**
 * Node-side helpers for linux/*.root.test.ts (vitest runs on Node): per-run names, netns
 * create/delete, iproute2 JSON as the independent oracle, and running the bun drivers.
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

export const BUN = fileURLToPath(new URL("../../node_modules/.bin/bun", import.meta.url));
export const DRIVERS = fileURLToPath(new URL(".", import.meta.url));

/** A short per-run prefix, e.g. `wl3f9a`, for every netns and link a test creates. */
export function runPrefix(): string {
  return `wl${randomBytes(2).toString("hex")}`;
}

export async function sh(cmd: string, args: readonly string[], input?: string): Promise<string> {
  const r = await execa(cmd, [...args], { reject: false, ...(input !== undefined ? { input } : {}) });
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.exitCode}: ${String(r.stderr)}`);
  return String(r.stdout);
}

/** Named netns created by the test; deleted by `cleanup`. */
export class Namespaces {
  private readonly names: string[] = [];
  constructor(readonly prefix: string) {}
  async add(suffix: string): Promise<{ name: string; path: string }> {
    const name = `${this.prefix}${suffix}`;
    await sh("ip", ["netns", "add", name]);
    this.names.push(name);
    return { name, path: `/run/netns/${name}` };
  }
  async cleanup(): Promise<void> {
    for (const n of this.names.splice(0)) await execa("ip", ["netns", "del", n], { reject: false });
  }
}

/** `ip -n ns -j -d <args>` parsed. */
export async function ipj<T = Record<string, unknown>[]>(ns: string, args: readonly string[]): Promise<T> {
  const out = await sh("ip", ["-n", ns, "-j", "-d", ...args]);
  return JSON.parse(out || "[]") as T;
}

/** `bridge -n ns -j -d <args>` parsed. */
export async function bridgej<T = Record<string, unknown>[]>(ns: string, args: readonly string[]): Promise<T> {
  const out = await sh("bridge", ["-n", ns, "-j", "-d", ...args]);
  return JSON.parse(out || "[]") as T;
}

export interface StepResult {
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: { name: string; code: string; errno?: number; message: string };
}

/** Run a bun driver script with arguments; returns its stdout lines parsed as JSON. */
export async function driver(script: string, args: readonly string[]): Promise<StepResult[]> {
  const r = await execa(BUN, [`${DRIVERS}${script}`, ...args], { reject: false });
  if (r.exitCode !== 0) throw new Error(`driver ${script} exited ${r.exitCode}: ${String(r.stderr)}`);
  return String(r.stdout)
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as StepResult);
}

/** Steps for the nl.ts driver. */
export type Step =
  | { op: "netns"; name: string; path: string }
  | { op: "client"; name: string; netns?: string }
  | { op: "call"; client?: string; method: string; args?: unknown[] };

export const call = (client: string, method: string, ...args: unknown[]): Step => ({
  op: "call",
  client,
  method,
  args,
});

/** Run netlink steps; every step must succeed unless listed in `allowFail` (indexes). */
export async function netlink(steps: readonly Step[]): Promise<StepResult[]> {
  return driver("nl.ts", [JSON.stringify({ steps })]);
}

/** Like `netlink`, but throws when any step failed, naming it. */
export async function netlinkOk(steps: readonly Step[]): Promise<unknown[]> {
  const res = await netlink(steps);
  res.forEach((r, i) => {
    if (!r.ok) throw new Error(`step ${i} ${JSON.stringify(steps[i])} failed: ${r.error?.message}`);
  });
  return res.map((r) => r.value);
}
