/**
 * cnitool: run a CNI network configuration against a network namespace, compatible with the
 * reference cnitool (cobra version): `cnitool add|check|del|gc|status <net> <netns> [-i ifname]`.
 *
 * Environment: NETCONFPATH (default /etc/cni/net.d), CNI_PATH, CNI_ARGS, CAP_ARGS, CNI_IFNAME,
 * and CNI_CACHE_DIR (default /var/lib/cni; ours only).
 */
import { CniConfig } from "../api.ts";
import type { PluginExec } from "../invoke/exec.ts";
import type { FileWriter } from "../../net/file-writer.ts";
import { fdSink } from "../stdio.ts";
import { trace } from "../trace.ts";
import { toCniError } from "../types/error.ts";
import { add } from "./add.ts";
import { check } from "./check.ts";
import type { Command } from "./command.ts";
import { del } from "./del.ts";
import { gc } from "./gc.ts";
import { parseArgv } from "./parse.ts";
import { pluginPath, setupRuntimeConfig, type EnvLookup } from "./runtime-conf.ts";
import { status } from "./status.ts";

const COMMANDS: readonly Command[] = [add, check, del, gc, status];

interface Sink {
  write(s: string): unknown;
}

export interface CnitoolIO {
  readonly env: EnvLookup;
  readonly cwd: string;
  readonly stdout: Sink;
  readonly stderr: Sink;
  /** Replace plugin execution (tests). @default RawExec */
  readonly exec?: PluginExec;
  /** How the result cache is written (the binary: files written unnamed and linked into place). */
  readonly files?: FileWriter;
}

const ENV_HELP = `Environment:
  NETCONFPATH    directory of network configuration files (default /etc/cni/net.d)
  CNI_PATH       plugin directories, separated by ':'
  CNI_ARGS       extra plugin arguments, "KEY1=VALUE1;KEY2=VALUE2"
  CAP_ARGS       capability arguments as a JSON object, e.g. {"portMappings":[...]}
  CNI_IFNAME     interface name when -i is not given (default eth0)
  CNI_CACHE_DIR  result cache directory (default /var/lib/cni)
`;

const FLAGS_HELP = `Flags:
  -h, --help            show help
  -i, --ifname string   Interface name (defaults to env var CNI_IFNAME or 'eth0')
`;

function rootHelp(): string {
  const cmds = COMMANDS.map((c) => `  ${c.name.padEnd(8)}${c.summary}`).join("\n");
  return `cnitool runs a CNI network configuration: it adds, checks, deletes, garbage-collects or gets the
status of an interface in an existing network namespace.

Usage:
  cnitool [command]

Available Commands:
${cmds}
  help    Help about any command

${FLAGS_HELP}
${ENV_HELP}
Use "cnitool [command] --help" for more information about a command.
`;
}

function commandHelp(c: Command): string {
  return `${c.summary}.
${c.description}

Usage:
  cnitool ${c.name} <network-name> <netns> [flags]

${FLAGS_HELP}
${ENV_HELP}`;
}

/** Run cnitool with explicit I/O; resolves to the exit code. */
export async function run(argv: readonly string[], io: CnitoolIO): Promise<number> {
  const parsed = parseArgv(
    argv,
    COMMANDS.map((c) => c.name),
  );
  if (parsed.kind === "help") {
    const c = COMMANDS.find((x) => x.name === parsed.command);
    if (parsed.command !== undefined && !c) {
      io.stderr.write(`Error: unknown help topic "${parsed.command}"\nRun 'cnitool --help' for usage.\n`);
      return 1;
    }
    io.stdout.write(c ? commandHelp(c) : rootHelp());
    return 0;
  }
  if (parsed.kind === "error") {
    const usage = parsed.command ? `cnitool ${parsed.command} --help` : "cnitool --help";
    io.stderr.write(`Error: ${parsed.message}\nRun '${usage}' for usage.\n`);
    return 1;
  }
  const cmd = COMMANDS.find((c) => c.name === parsed.command);
  if (!cmd) return 1; // parseArgv only returns known commands
  try {
    const [network = "", netns = ""] = parsed.args;
    const { list, rt } = await setupRuntimeConfig({
      network,
      netns,
      ifnameFlag: parsed.ifname,
      env: io.env,
      cwd: io.cwd,
    });
    const cacheDir = io.env["CNI_CACHE_DIR"];
    const cni = new CniConfig({
      path: pluginPath(io.env),
      baseEnv: io.env,
      ...(cacheDir ? { cacheDir } : {}),
      ...(io.exec ? { exec: io.exec } : {}),
      ...(io.files ? { files: io.files } : {}),
    });
    trace(`cnitool: ${cmd.name} ${network} configured`);
    await cmd.run({ cni, list, rt, out: io.stdout });
    trace(`cnitool: ${cmd.name} done`);
    return 0;
  } catch (e) {
    io.stderr.write(`Error: ${toCniError(e).message}\n`);
    return 1;
  }
}

/** Plain write(2) on fds 1 and 2: process.stdout/stderr would build stream objects first, a cost at every exec. */
export async function main(argv: readonly string[], o: { readonly files?: FileWriter } = {}): Promise<number> {
  return run(argv, { env: process.env, cwd: process.cwd(), stdout: fdSink(1), stderr: fdSink(2), ...o });
}
