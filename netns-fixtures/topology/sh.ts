// Running test-side commands (ip, bridge, nft, etcd, plugins). Test fixtures may use iproute2 as an
// independent oracle; shipped code never does.
import { execa, type Options } from "execa";

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/** Run a command; throw with its stderr when it fails unless `allowFail`. */
export async function run(
  cmd: string,
  args: readonly string[],
  opts: {
    readonly input?: string;
    readonly env?: Record<string, string>;
    readonly allowFail?: boolean;
    readonly timeoutMs?: number;
  } = {},
): Promise<RunResult> {
  const o: Options = {
    reject: false,
    timeout: opts.timeoutMs ?? 60_000,
    extendEnv: true,
    stripFinalNewline: false,
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: "ignore" }),
    ...(opts.env ? { env: opts.env } : {}),
  };
  const r = await execa(cmd, [...args], o);
  const res = { stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? ""), exitCode: r.exitCode ?? -1 };
  if (res.exitCode !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${res.exitCode}: ${res.stderr.trim() || res.stdout.trim()}`);
  }
  return res;
}

/** Run a command inside a named netns (`ip netns exec`), e.g. a plugin on a node. */
export function runIn(
  ns: string,
  cmd: string,
  args: readonly string[],
  opts: Parameters<typeof run>[2] = {},
): Promise<RunResult> {
  return run("ip", ["netns", "exec", ns, cmd, ...args], opts);
}

/** `ip -j ...` parsed, optionally inside a netns. */
export async function ipJson<T = unknown>(ns: string | undefined, args: readonly string[]): Promise<T> {
  const full = ns ? ["-n", ns, "-j", ...args] : ["-j", ...args];
  const r = await run("ip", full);
  return JSON.parse(r.stdout || "[]") as T;
}

/** Poll `fn` every 100 ms until it is true; throw naming `what` after `ms`. */
export async function waitFor(what: string, ms: number, fn: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
