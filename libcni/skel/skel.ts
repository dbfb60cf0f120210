/**
 * The plugin side of the CNI protocol: read the environment and stdin, check versions, call the
 * plugin's command, print its result (converted to the config's version) or its error.
 * All IO is injected (PluginIO) so tests drive `dispatch` with fakes; plugins never print.
 * Order of checks follows the reference skel (pkg/skel/skel.go); see commands.ts for the tables.
 * Deliberate differences: an unknown CNI_COMMAND is reported before stdin is read; ADD, DEL and
 * CHECK refuse CNI_NETNS = the plugin's own netns (same namespace identity, whatever the path)
 * BEFORE calling the plugin, so a refused call changes nothing (the reference lets DEL run first and
 * delete the node's interfaces); the skel decodes prevResult (code 6 when bad, except DEL, which
 * warns on stderr and runs without it so cleanup still happens); a result conversion failure is
 * code 1, not 999.
 *
 * A plugin's main:
 *   export const main = () => runPlugin({ add, del, check, status }, SPEC_VERSIONS, `CNI bridge plugin ${VERSION}`);
 * where add(args) resolves to a Result100 (skel converts and prints it) and the others to nothing.
 */
import { statSync } from "node:fs";
import { readAllSync, writeAllSync } from "../stdio.ts";
import { trace } from "../trace.ts";
import { CniError, ErrorCode, isCniError, toCniError } from "../types/error.ts";
import type { AnyResult, Result100 } from "../types/result.ts";
import { CURRENT_VERSION, DEFAULT_VERSION, compareVersions, reconcileVersion, versionAtLeast } from "../version.ts";
import { convertResult } from "../types/convert.ts";
import { formatResult, goJson } from "../types/format.ts";
import { parsePrevResult } from "../types/parse.ts";
import { describeValue, getField } from "../validate/index.ts";
import { validateNetworkName } from "../validate/names.ts";
import { COMMANDS, isCommand, readEnv, unknownCommand, type CommandName, type CommandSpec } from "./commands.ts";

export { COMMANDS } from "./commands.ts";
export type { CommandName, CommandSpec } from "./commands.ts";

/** An open network namespace (a Linux fd). libcni never opens one; it only passes access along. */
export interface NetnsHandle {
  readonly path: string;
  readonly fd: number;
  close(): void;
}

/**
 * How a call reaches the pod's network namespace when its runtime handed it over already opened
 * (a daemon serving CNI calls gets the fd over a socket and may not see the runtime's path).
 */
export interface NetnsAccess {
  /** A new handle on the namespace at `path`, with the errors opening the path would give. */
  open(path: string): NetnsHandle;
  /** A path an exec'd delegate can open for CNI_NETNS (e.g. /proc/<pid>/fd/<n>). */
  readonly execPath?: string;
}

export interface CmdArgs {
  /** The whole environment of the call (a delegate inherits it, CNI_COMMAND replaced). */
  env: Readonly<Record<string, string | undefined>>;
  containerID: string;
  netns: string;
  ifName: string;
  /** CNI_ARGS as given ("K=V;K2=V2"). */
  args: string;
  /** CNI_PATH split on ":", empty entries dropped. */
  path: readonly string[];
  stdinData: string;
  /** The parsed stdin object, keys as given (decode with decodeNetConf / getField). */
  config: Record<string, unknown>;
  /** The config's cniVersion; "0.1.0" when absent or empty. */
  cniVersion: string;
  /** CNI_NETNS_OVERRIDE is "1" or "true" (any case): skip the own-netns check. */
  netnsOverride: boolean;
  /** The config's prevResult, already decoded and upconverted; absent when the config has none. */
  prevResult?: Result100;
  /** Set when the runtime handed over the pod netns already opened: use it instead of opening CNI_NETNS. */
  netnsAccess?: NetnsAccess;
}

export interface PluginFuncs {
  add(a: CmdArgs): Promise<AnyResult>;
  del(a: CmdArgs): Promise<void>;
  check?(a: CmdArgs): Promise<void>;
  gc?(a: CmdArgs): Promise<void>;
  status?(a: CmdArgs): Promise<void>;
}

export interface PluginIO {
  env: Readonly<Record<string, string | undefined>>;
  readStdin(): Promise<string>;
  stdout(s: string): void;
  stderr(s: string): void;
  /**
   * When `path` is the network namespace this process runs in (the same nsfs inode, whatever the
   * path), its identity as the kernel prints it ("net:[4026531840]"); undefined otherwise, also
   * for paths that cannot be read. ADD, DEL and CHECK then refuse with code 8 before anything runs,
   * unless CNI_NETNS_OVERRIDE. Without it the check is skipped.
   */
  ownNetns?(path: string): string | undefined | Promise<string | undefined>;
  /** The pod netns as handed over by the runtime (see CmdArgs.netnsAccess). */
  readonly netnsAccess?: NetnsAccess;
}

const decodeFailure = (msg: string): CniError => new CniError(ErrorCode.DecodingFailure, msg);

/** Parse stdin and check the network name (reference validateConfig): 6 bad JSON, 7 bad name. */
function parseConfig(stdinData: string): Record<string, unknown> {
  const prefix = "error unmarshall network config: ";
  if (stdinData.trim() === "") {
    throw new CniError(
      ErrorCode.DecodingFailure,
      `${prefix}unexpected end of JSON input`,
      "stdin is empty; the runtime must send the network configuration as JSON",
    );
  }
  let v: unknown;
  try {
    v = JSON.parse(stdinData);
  } catch (e) {
    throw new CniError(
      ErrorCode.DecodingFailure,
      `${prefix}${e instanceof Error ? e.message : String(e)}`,
      "stdin must hold the network configuration as a JSON object",
    );
  }
  if (v !== null && (typeof v !== "object" || Array.isArray(v)))
    throw decodeFailure(`${prefix}the configuration must be a JSON object, got ${describeValue(v)}`);
  const config = (v ?? {}) as Record<string, unknown>;
  const huge = nonFiniteNumber(config, "");
  if (huge !== undefined) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `${prefix}"${huge}" is a number beyond what a double can hold`,
      `give "${huge}" a value such as the key expects (a plugin would otherwise see null or Infinity)`,
    );
  }
  const name = getField(config, "name");
  if (name !== undefined && name !== null && typeof name !== "string")
    throw decodeFailure(`${prefix}"name" must be a string, got ${describeValue(name)}`);
  if (!name)
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      "missing network name",
      'set "name" in the network configuration',
    );
  validateNetworkName(name);
  return config;
}

/** The path ("delegate.mtu", "ipam.ranges[0][1].x") of the first number JSON.parse turned into ±Infinity. */
function nonFiniteNumber(v: unknown, path: string): string | undefined {
  if (typeof v === "number") return Number.isFinite(v) ? undefined : path;
  if (typeof v !== "object" || v === null) return undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = nonFiniteNumber(v[i], `${path}[${i}]`);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  for (const [k, x] of Object.entries(v)) {
    const p = nonFiniteNumber(x, path === "" ? k : `${path}.${k}`);
    if (p !== undefined) return p;
  }
  return undefined;
}

function configVersion(config: Record<string, unknown>): string {
  const v = getField(config, "cniVersion");
  if (v !== undefined && v !== null && typeof v !== "string") {
    throw decodeFailure(`decoding version from network config: "cniVersion" must be a string, got ${describeValue(v)}`);
  }
  return v || DEFAULT_VERSION;
}

/** CHECK/GC/STATUS exist only from a version on, for the config and for the plugin. */
function versionGate(cmd: CommandName, spec: CommandSpec, cfgVersion: string, versions: readonly string[]): void {
  const min = spec.minVersion;
  if (min === undefined) return;
  if (!versionAtLeast(cfgVersion, min)) {
    throw new CniError(
      ErrorCode.IncompatibleCNIVersion,
      `config version does not allow ${cmd}`,
      `${cmd} needs cniVersion ${min} or newer; the config has "${cfgVersion}"`,
    );
  }
  if (!versions.some((v) => compareVersions(v, cfgVersion) >= 0)) {
    throw new CniError(
      ErrorCode.IncompatibleCNIVersion,
      `plugin version does not allow ${cmd}`,
      `the plugin supports ${versions.join(", ")}, none of them ${cfgVersion} or newer; lower the config's cniVersion`,
    );
  }
}

async function netnsCheck(io: PluginIO, a: CmdArgs): Promise<void> {
  if (a.netnsOverride || !io.ownNetns || a.netns === "") return;
  const id = await io.ownNetns(a.netns);
  if (id !== undefined) {
    throw new CniError(
      ErrorCode.InvalidNetNS,
      "plugin's netns and netns from CNI_NETNS should not be the same",
      `CNI_NETNS=${a.netns} is ${id}, the network namespace the plugin runs in (the node's); nothing was ` +
        "changed: pass the container's netns (or set CNI_NETNS_OVERRIDE=1)",
    );
  }
}

/** "net:[<inode>]" when `path` and `own` (stat results) are one namespace. */
export function sameNetns(
  path: { readonly dev: number; readonly ino: number },
  own: { readonly dev: number; readonly ino: number },
): string | undefined {
  return path.dev === own.dev && path.ino === own.ino ? `net:[${path.ino}]` : undefined;
}

type Outcome = { stdout?: string; stderr?: string };

interface Request {
  readonly stdinData: string;
  readonly config: Record<string, unknown>;
  readonly cniVersion: string;
  readonly prevResult: Result100 | undefined;
}

/** Stdin, network name, config version against the command's gate and the plugin's list, prevResult. */
async function readRequest(cmd: CommandName, versions: readonly string[], io: PluginIO): Promise<Request> {
  let stdinData: string;
  try {
    stdinData = await io.readStdin();
    trace("skel: stdin read");
  } catch (e) {
    throw new CniError(ErrorCode.IOFailure, `error reading from stdin: ${e instanceof Error ? e.message : String(e)}`);
  }
  const config = parseConfig(stdinData);
  const cniVersion = configVersion(config);
  versionGate(cmd, COMMANDS[cmd], cniVersion, versions);
  reconcileVersion(cniVersion, versions);
  let prevResult: Result100 | undefined;
  try {
    prevResult = parsePrevResult(config, cniVersion);
  } catch (e) {
    if (COMMANDS[cmd].badPrevResult === "fail" || !isCniError(e)) throw e;
    io.stderr(`warning: ${cmd} continues without prevResult: ${e.message}\n`);
  }
  return { stdinData, config, cniVersion, prevResult };
}

async function run(funcs: PluginFuncs, versions: readonly string[], about: string, io: PluginIO): Promise<Outcome> {
  let env: ReturnType<typeof readEnv>;
  try {
    env = readEnv(io.env);
  } catch (e) {
    if (isCniError(e) && e.code === ErrorCode.InvalidEnvironmentVariables && !io.env["CNI_COMMAND"] && about !== "") {
      return { stderr: `${about}\nCNI protocol versions supported: ${versions.join(", ")}\n` };
    }
    throw e;
  }
  const cmd = env.CNI_COMMAND;
  if (!isCommand(cmd)) throw unknownCommand(cmd);
  const spec = COMMANDS[cmd];
  if (!spec.readsStdin)
    return { stdout: `${JSON.stringify({ cniVersion: CURRENT_VERSION, supportedVersions: versions })}\n` };

  const { stdinData, config, cniVersion, prevResult } = await readRequest(cmd, versions, io);
  const override = io.env["CNI_NETNS_OVERRIDE"] ?? "";
  const args: CmdArgs = {
    env: io.env,
    containerID: env.CNI_CONTAINERID,
    netns: env.CNI_NETNS,
    ifName: env.CNI_IFNAME,
    args: env.CNI_ARGS,
    path: env.CNI_PATH.split(":").filter((p) => p !== ""),
    stdinData,
    config,
    cniVersion,
    netnsOverride: override === "1" || override.toUpperCase() === "TRUE",
    ...(prevResult ? { prevResult } : {}),
    ...(io.netnsAccess ? { netnsAccess: io.netnsAccess } : {}),
  };
  if (spec.netnsCheck === "before") await netnsCheck(io, args);
  let out: Outcome = {};
  trace(`skel: ${cmd} starts`);
  if (cmd === "ADD") {
    out = { stdout: formatResult(convertResult(await funcs.add(args), cniVersion)) };
  } else {
    const fn = { DEL: funcs.del, CHECK: funcs.check, GC: funcs.gc, STATUS: funcs.status, VERSION: undefined }[cmd];
    if (fn) await fn.call(funcs, args);
  }
  trace(`skel: ${cmd} done`);
  return out;
}

/**
 * Run one CNI command with the given IO. Resolves to the exit code: 0, or 1 after printing the
 * error JSON `{code, msg, details?}` on stdout. Never throws; untyped errors become code 999.
 */
export async function dispatch(
  funcs: PluginFuncs,
  versions: readonly string[],
  about: string,
  io: PluginIO,
): Promise<number> {
  let out: Outcome;
  try {
    out = await run(funcs, versions, about, io);
  } catch (e) {
    try {
      io.stdout(goJson(toCniError(e).toJSON()));
    } catch {
      // Nowhere left to report to; the exit code still says it failed.
    }
    return 1;
  }
  try {
    if (out.stderr !== undefined) io.stderr(out.stderr);
    if (out.stdout !== undefined) io.stdout(out.stdout);
    return 0;
  } catch {
    return 1;
  }
}

/**
 * The real process: environment, stdin, stdout/stderr, and /proc for the own-netns check. Plain
 * read(2)/write(2) on fds 0-2 (libcni/stdio.ts): building process.stdin/stdout streams is a
 * measurable part of a plugin exec under Bun.
 */
export async function processIO(o: { readonly stdin?: string } = {}): Promise<PluginIO> {
  const given = o.stdin;
  return {
    env: process.env,
    readStdin: async () => given ?? readAllSync(0),
    stdout: (s) => writeAllSync(1, s),
    stderr: (s) => writeAllSync(2, s),
    ownNetns(path) {
      try {
        return sameNetns(statSync(path), statSync("/proc/thread-self/ns/net"));
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * A plugin's whole main: dispatch with the real process IO (stdin already read by the caller when
 * `o.stdin` is given). Resolves to the exit code.
 */
export async function runPlugin(
  funcs: PluginFuncs,
  versions: readonly string[],
  about: string,
  o: { readonly stdin?: string } = {},
): Promise<number> {
  return dispatch(funcs, versions, about, await processIO(o));
}
