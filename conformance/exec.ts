// Executing one plugin the way a runtime does: env + stdin, inside a node netns.
import { runIn, run } from "../netns-fixtures/topology/sh.ts";

export interface PluginCall {
  readonly plugin: string;
  readonly command: string;
  readonly conf?: unknown;
  /** raw stdin instead of JSON.stringify(conf) */
  readonly stdin?: string;
  readonly containerID?: string;
  readonly netns?: string;
  readonly ifName?: string;
  readonly args?: string;
  readonly path?: string;
  /** run inside this named netns (the node); default: the root netns */
  readonly node?: string;
  /** env to drop entirely (to test missing variables) */
  readonly omit?: readonly string[];
  readonly extraEnv?: Record<string, string>;
}

export interface PluginOutcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON, when it is JSON */
  readonly json: Record<string, unknown> | undefined;
}

export async function callPlugin(c: PluginCall): Promise<PluginOutcome> {
  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    CNI_COMMAND: c.command,
    CNI_CONTAINERID: c.containerID ?? "conformance-cid",
    CNI_NETNS: c.netns ?? "/run/netns/none",
    CNI_IFNAME: c.ifName ?? "eth0",
    CNI_PATH: c.path ?? "/usr/lib/cni",
    ...(c.args !== undefined ? { CNI_ARGS: c.args } : {}),
    ...c.extraEnv,
  };
  for (const k of c.omit ?? []) delete env[k];
  const input = c.stdin ?? (c.conf === undefined ? "" : JSON.stringify(c.conf));
  // env -i: the plugin sees exactly this environment, nothing inherited from the test runner.
  const envArgs = ["-i", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), c.plugin];
  const r = c.node
    ? await runIn(c.node, "env", envArgs, { input, allowFail: true })
    : await run("env", envArgs, { input, allowFail: true });
  let json: Record<string, unknown> | undefined;
  try {
    const v: unknown = JSON.parse(r.stdout);
    if (v && typeof v === "object" && !Array.isArray(v)) json = v as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr, json };
}
