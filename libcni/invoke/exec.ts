/**
 * The boundary between libcni and plugin processes: one `PluginExec` interface (RawExec runs real
 * binaries, RecordingExec fakes them), the CNI_* environment, and how a failed plugin's output
 * becomes a CniError (the reference rules of pkg/invoke/raw_exec.go).
 */
import { CniError, ErrorCode } from "../types/error.ts";
import { findInPath } from "./find.ts";
import { getFieldFold, isJsonMap, parseJsonTree, RawNumber } from "./gojson.ts";

export type Env = Readonly<Record<string, string>>;

export interface ExecRequest {
  /** Absolute path of the plugin binary. */
  readonly path: string;
  /** Network configuration sent on stdin. */
  readonly stdin: string;
  /** The plugin's complete environment (already merged; nothing else is inherited). */
  readonly env: Env;
  /** Kill the plugin (SIGKILL) if it runs longer than this. @default the exec's own default */
  readonly timeoutMs?: number;
}

export interface PluginExec {
  /** Run the plugin; resolves to its stdout on exit 0, rejects with a CniError otherwise. */
  execPlugin(req: ExecRequest): Promise<string>;
  /** Locate a plugin binary by type (reference: pkg/invoke/find.go). */
  findInPath(name: string, paths: readonly string[]): string;
}

/** The CNI_* variables of one invocation (reference: invoke.Args). */
export interface CniArgs {
  readonly command: string;
  readonly containerId?: string;
  readonly netns?: string;
  /** CNI_ARGS pairs, joined as "K=V;K2=V2". */
  readonly pluginArgs?: readonly (readonly [string, string])[];
  readonly ifName?: string;
  /** CNI_PATH directories, joined with ":". */
  readonly path?: readonly string[];
}

/**
 * The environment for a plugin: `base` (normally process.env) plus every CNI_* variable of `args`,
 * the CNI_* values winning over inherited ones (the reference appends then de-duplicates, later wins).
 */
export function pluginEnv(base: Readonly<Record<string, string | undefined>>, args: CniArgs): Record<string, string> {
  return {
    ...definedOnly(base),
    CNI_COMMAND: args.command,
    CNI_CONTAINERID: args.containerId ?? "",
    CNI_NETNS: args.netns ?? "",
    CNI_ARGS: (args.pluginArgs ?? []).map(([k, v]) => `${k}=${v}`).join(";"),
    CNI_IFNAME: args.ifName ?? "",
    CNI_PATH: (args.path ?? []).join(":"),
  };
}

/** Delegation (reference: invoke.DelegateArgs): the inherited environment with only CNI_COMMAND replaced. */
export function delegateEnv(
  base: Readonly<Record<string, string | undefined>>,
  command: string,
): Record<string, string> {
  return { ...definedOnly(base), CNI_COMMAND: command };
}

export function definedOnly(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/** How a plugin run ended, whoever ran it (a process or an in-process plugin). */
export interface PluginOutcome {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit status, or null when killed by a signal. */
  readonly exitCode: number | null;
  readonly signal?: string | null;
}

const SIGNAL_TEXT: Readonly<Record<string, string>> = {
  SIGKILL: "killed",
  SIGTERM: "terminated",
  SIGINT: "interrupt",
  SIGHUP: "hangup",
  SIGSEGV: "segmentation fault",
  SIGABRT: "aborted",
  SIGPIPE: "broken pipe",
  SIGBUS: "bus error",
};

/** Go's text for a failed process: "exit status 1", "signal: killed". */
export function exitText(o: Pick<PluginOutcome, "exitCode" | "signal">): string {
  if (o.exitCode !== null) return `exit status ${o.exitCode}`;
  const s = o.signal ?? "unknown";
  return `signal: ${SIGNAL_TEXT[s] ?? s}`;
}

/**
 * The error for a plugin that did not exit 0:
 * - its stdout holds CNI error JSON -> that error (code, msg, details);
 * - stdout empty -> "netplugin failed with no error message: <exit>" or `netplugin failed: "<stderr>": <exit>`;
 * - stdout not an error object -> `netplugin failed but error parsing its diagnostic message "<stdout>": <why>`.
 */
export function pluginFailure(o: PluginOutcome): CniError {
  const exit = exitText(o);
  if (o.stdout.length === 0) {
    if (o.stderr.length === 0)
      return new CniError(ErrorCode.Unknown, `netplugin failed with no error message: ${exit}`);
    return new CniError(ErrorCode.Unknown, `netplugin failed: ${goQuote(o.stderr)}: ${exit}`);
  }
  try {
    return decodeErrorJson(o.stdout);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return new CniError(
      ErrorCode.Unknown,
      `netplugin failed but error parsing its diagnostic message ${goQuote(o.stdout)}: ${why}`,
    );
  }
}

/** Decode `{"code","msg","details"}` with Go's leniency: keys case-insensitive, unknown keys ignored. */
function decodeErrorJson(text: string): CniError {
  const t = parseJsonTree(text);
  if (t === null) return new CniError(ErrorCode.Unknown, "");
  if (!isJsonMap(t)) throw new Error("error output must be a JSON object with code, msg and details");
  const code = getFieldFold(t, "code");
  const msg = getFieldFold(t, "msg");
  const details = getFieldFold(t, "details");
  let n = 0;
  if (code !== undefined && code !== null) {
    if (!(code instanceof RawNumber) || !/^\d+$/.test(code.text))
      throw new Error(`"code" must be a non-negative integer`);
    n = Number(code.text);
  }
  for (const [k, v] of [
    ["msg", msg],
    ["details", details],
  ] as const) {
    if (v !== undefined && v !== null && typeof v !== "string") throw new Error(`"${k}" must be a string`);
  }
  return new CniError(n, typeof msg === "string" ? msg : "", typeof details === "string" ? details : "");
}

/** Go's %q for a string: double-quoted with escapes for quotes, backslashes and control characters. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

export { findInPath };
