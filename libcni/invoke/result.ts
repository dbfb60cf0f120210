/**
 * Running a plugin and reading what it says: results (with the reference version fix-up) and the
 * VERSION probe.
 */
import { CniError, ErrorCode } from "../types/error.ts";
import { pluginEnv, type Env, type PluginExec } from "./exec.ts";
import {
  decodeVersionInfo as decodeVersionOutput,
  parseResult,
  type AnyResult,
  type VersionInfo,
} from "../types/index.ts";
import { CURRENT_VERSION } from "../version.ts";

export interface PluginCall {
  readonly path: string;
  /** The network configuration sent on stdin. */
  readonly conf: string;
  readonly env: Env;
  readonly timeoutMs?: number;
}

/** The version a config declares: its `cniVersion`, "" or missing meaning 0.1.0. */
export function configVersion(conf: string): string {
  let v: unknown;
  try {
    v = (JSON.parse(conf) as { cniVersion?: unknown } | null)?.cniVersion;
  } catch (e) {
    throw new CniError(ErrorCode.DecodingFailure, `decoding version from network config: ${(e as Error).message}`);
  }
  if (v !== undefined && v !== null && typeof v !== "string") {
    throw new CniError(ErrorCode.DecodingFailure, "decoding version from network config: cniVersion must be a string");
  }
  return typeof v === "string" && v !== "" ? v : "0.1.0";
}

/**
 * Decode a plugin's ADD output. A result without (or with an empty) `cniVersion` is taken to be
 * in the config's version (0.1.0 if the config has none either); `null` is an empty result.
 */
export function decodePluginResult(stdout: string, conf: string): AnyResult {
  const confVersion = configVersion(conf);
  let raw: unknown;
  try {
    raw = JSON.parse(stdout);
  } catch (e) {
    throw new CniError(
      ErrorCode.DecodingFailure,
      `failed to unmarshal raw result: ${(e as Error).message}`,
      `plugin output was ${JSON.stringify(stdout.slice(0, 200))}`,
    );
  }
  if (raw === null) raw = {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new CniError(
      ErrorCode.DecodingFailure,
      "failed to unmarshal raw result: the plugin must print a JSON object",
      `plugin output was ${JSON.stringify(stdout.slice(0, 200))}`,
    );
  }
  const rv = (raw as { cniVersion?: unknown }).cniVersion;
  const fixed = typeof rv === "string" && rv !== "" ? raw : { ...raw, cniVersion: confVersion };
  return parseResult(fixed, confVersion);
}

export async function execPluginWithResult(exec: PluginExec, call: PluginCall): Promise<AnyResult> {
  const stdout = await exec.execPlugin({ path: call.path, stdin: call.conf, env: call.env, ...timeout(call) });
  return decodePluginResult(stdout, call.conf);
}

export async function execPluginWithoutResult(exec: PluginExec, call: PluginCall): Promise<void> {
  await exec.execPlugin({ path: call.path, stdin: call.conf, env: call.env, ...timeout(call) });
}

function timeout(call: { readonly timeoutMs?: number }): { timeoutMs?: number } {
  return call.timeoutMs === undefined ? {} : { timeoutMs: call.timeoutMs };
}

/** What a plugin's VERSION command reports. */
export type PluginInfo = VersionInfo;

/** Decode VERSION output (reference: version.PluginDecoder). */
export function decodeVersionInfo(stdout: string): PluginInfo {
  let raw: unknown;
  try {
    raw = JSON.parse(stdout);
  } catch (e) {
    throw new CniError(
      ErrorCode.DecodingFailure,
      `decoding version info: ${(e as Error).message}`,
      `the plugin printed ${JSON.stringify(stdout.slice(0, 200))}`,
    );
  }
  return decodeVersionOutput(raw);
}

/**
 * Ask a plugin which spec versions it supports. Older plugins that answer
 * "unknown CNI_COMMAND: VERSION" are taken to support 0.1.0 only.
 */
export async function getVersionInfo(
  exec: PluginExec,
  path: string,
  opts: { readonly baseEnv?: Readonly<Record<string, string | undefined>>; readonly timeoutMs?: number } = {},
): Promise<PluginInfo> {
  // Dummy values satisfy plugins built on old skels that required them for every command.
  const env = pluginEnv(opts.baseEnv ?? process.env, {
    command: "VERSION",
    netns: "dummy",
    ifName: "dummy",
    path: ["dummy"],
  });
  let stdout: string;
  try {
    stdout = await exec.execPlugin({ path, stdin: `{"cniVersion":"${CURRENT_VERSION}"}`, env, ...timeout(opts) });
  } catch (e) {
    if (e instanceof Error && e.message === "unknown CNI_COMMAND: VERSION")
      return { cniVersion: "0.1.0", supportedVersions: ["0.1.0"] };
    throw e;
  }
  return decodeVersionInfo(stdout);
}
