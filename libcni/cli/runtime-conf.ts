/**
 * From cnitool's arguments and environment to what libcni needs (reference: cnitool/cmd/root.go
 * setupRuntimeConfig): the network list from NETCONFPATH, CAP_ARGS, CNI_ARGS, the interface name,
 * the absolute netns path and the container ID derived from it.
 */
import { resolve } from "node:path";
import { loadConfList, type NetworkConfigList, type RuntimeConf } from "../conf.ts";
import { fromJsonTree, isJsonMap, parseJsonTree } from "../invoke/gojson.ts";
import { CniError, ErrorCode } from "../types/error.ts";

export const DEFAULT_NET_DIR = "/etc/cni/net.d";

export type EnvLookup = Readonly<Record<string, string | undefined>>;

/** "K=V;K2=V2": each pair exactly one '=', key and value non-empty. */
export function parseCniArgs(text: string): [string, string][] {
  return text.split(";").map((pair) => {
    const kv = pair.split("=");
    const [k, v] = kv;
    if (kv.length !== 2 || !k || !v) {
      throw new CniError(
        ErrorCode.InvalidEnvironmentVariables,
        `invalid CNI_ARGS pair ${JSON.stringify(pair)}`,
        'CNI_ARGS must look like "KEY1=VALUE1;KEY2=VALUE2"',
      );
    }
    return [k, v];
  });
}

/** CAP_ARGS: a JSON object of capability values (number literals kept as written). */
export function parseCapArgs(text: string): Record<string, unknown> | undefined {
  let t;
  try {
    t = parseJsonTree(text);
  } catch (e) {
    throw new CniError(
      ErrorCode.InvalidEnvironmentVariables,
      `invalid CAP_ARGS: ${(e as Error).message}`,
      'CAP_ARGS must be a JSON object, e.g. {"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}',
    );
  }
  if (t === null) return undefined;
  if (!isJsonMap(t)) {
    throw new CniError(
      ErrorCode.InvalidEnvironmentVariables,
      `invalid CAP_ARGS: expected a JSON object, got ${JSON.stringify(fromJsonTree(t))}`,
      'CAP_ARGS must be a JSON object, e.g. {"mac":"c2:11:22:33:44:55"}',
    );
  }
  return Object.fromEntries(t);
}

/**
 * cnitool's container ID: "cnitool-" + the first 10 bytes of sha512(netns path), in hex.
 * WebCrypto (global in Node and Bun) rather than node:crypto, whose load is a noticeable part of an
 * exec under Bun.
 */
export async function containerIdFor(netnsPath: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-512", new TextEncoder().encode(netnsPath)));
  return `cnitool-${Buffer.from(digest.subarray(0, 10)).toString("hex")}`;
}

export interface SetupInput {
  readonly network: string;
  readonly netns: string;
  /** From -i/--ifname; "" when not given. */
  readonly ifnameFlag: string;
  readonly env: EnvLookup;
  readonly cwd: string;
}

export async function setupRuntimeConfig(i: SetupInput): Promise<{ list: NetworkConfigList; rt: RuntimeConf }> {
  const list = loadConfList(i.env["NETCONFPATH"] || DEFAULT_NET_DIR, i.network);
  const capText = i.env["CAP_ARGS"] ?? "";
  const capabilityArgs = capText.length > 0 ? parseCapArgs(capText) : undefined;
  const argsText = i.env["CNI_ARGS"] ?? "";
  const args = argsText.length > 0 ? parseCniArgs(argsText) : undefined;
  const ifName = i.ifnameFlag || i.env["CNI_IFNAME"] || "eth0";
  const netns = resolve(i.cwd, i.netns);
  const rt: RuntimeConf = {
    containerId: await containerIdFor(netns),
    netns,
    ifName,
    ...(args ? { args } : {}),
    ...(capabilityArgs ? { capabilityArgs } : {}),
  };
  return { list, rt };
}

/** CNI_PATH split on ":" (empty entries dropped). */
export function pluginPath(env: EnvLookup): string[] {
  return (env["CNI_PATH"] ?? "").split(":").filter((p) => p !== "");
}
