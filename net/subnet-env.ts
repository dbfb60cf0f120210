/**
 * THE codec of /run/flannel/subnet.env, shared by flanneld (writer) and the flannel CNI plugin
 * (reader).
 *
 * Writing is byte-compatible with flanneld: v4 pair, v6 pair, MTU, IPMASQ, "\n" line ends, the
 * subnet written as lease address + 1 (the bridge gateway), atomic temp + fsync + rename, mode
 * 0644, parent directory 0755. Reading follows the flannel CNI plugin: `KEY=VALUE` split at the
 * first "=", unknown keys ignored, networks as comma lists masked and de-duplicated, the subnet
 * stored masked, FLANNEL_IPMASQ true only for "true", and the same "<file> is missing ..." list.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
  chmodSync,
} from "node:fs";
import { dirname, basename, join } from "node:path";
import { formatCidr, maskNet, parseCidr, type Family, type IpNet } from "./prefix.ts";
import { StateFileError, readStateFile } from "./state-file.ts";

/**
 * Content of subnet.env. CIDRs are canonical strings, masked to their network
 * ("10.1.17.0/24" for a file line `FLANNEL_SUBNET=10.1.17.1/24`).
 */
export interface SubnetEnv {
  /** FLANNEL_NETWORK entries (IPv4 cluster CIDRs); empty when absent. */
  readonly networks: readonly string[];
  /** FLANNEL_SUBNET, masked: this node's IPv4 lease. */
  readonly subnet?: string;
  /** FLANNEL_IPV6_NETWORK entries. */
  readonly ipv6Networks: readonly string[];
  /** FLANNEL_IPV6_SUBNET, masked: this node's IPv6 lease. */
  readonly ipv6Subnet?: string;
  /** FLANNEL_MTU: MTU for pod interfaces. */
  readonly mtu: number;
  /** FLANNEL_IPMASQ: whether flanneld masquerades (the CNI plugin then sets ipMasq=false). */
  readonly ipMasq: boolean;
}

/** The file is absent, unreadable or incomplete; `path` is the file looked at. */
export class SubnetEnvError extends Error {
  override readonly name = "SubnetEnvError";
  constructor(
    readonly path: string,
    message: string,
    readonly missingFile = false,
  ) {
    super(message);
  }
}

function parseCidrList(value: string, key: string, path: string): IpNet[] {
  const out: IpNet[] = [];
  for (const item of value.split(",")) {
    const n = parseCidr(item);
    if (!n) throw new SubnetEnvError(path, `invalid CIDR address: ${item} (${key} in ${path})`);
    const m = maskNet(n);
    if (!out.some((o) => o.family === m.family && o.ip === m.ip && o.prefix === m.prefix)) out.push(m);
  }
  return out;
}

function expectFamily(nets: IpNet[], family: Family, key: string, path: string): string[] {
  for (const n of nets) {
    if (n.family !== family)
      throw new SubnetEnvError(
        path,
        `${key} in ${path} has ${formatCidr(n)}, which is not IPv${family}: fix or remove that entry`,
      );
  }
  return nets.map(formatCidr);
}

/** Parse subnet.env text read from `path` (the path is only used in messages). */
export function parseSubnetEnv(text: string, path: string): SubnetEnv {
  let networks: string[] | undefined;
  let ipv6Networks: string[] | undefined;
  let subnet: string | undefined;
  let ipv6Subnet: string | undefined;
  let mtu: number | undefined;
  let ipMasq: boolean | undefined;
  for (const rawLine of text.split("\n")) {
    const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    const eq = line.indexOf("=");
    const key = eq < 0 ? line : line.slice(0, eq);
    const value = eq < 0 ? "" : line.slice(eq + 1);
    switch (key) {
      case "FLANNEL_NETWORK":
        networks = expectFamily(parseCidrList(value, key, path), 4, key, path);
        break;
      case "FLANNEL_IPV6_NETWORK":
        ipv6Networks = expectFamily(parseCidrList(value, key, path), 6, key, path);
        break;
      case "FLANNEL_SUBNET":
        subnet = expectFamily(parseCidrList(value, key, path).slice(0, 1), 4, key, path)[0];
        break;
      case "FLANNEL_IPV6_SUBNET":
        ipv6Subnet = expectFamily(parseCidrList(value, key, path).slice(0, 1), 6, key, path)[0];
        break;
      case "FLANNEL_MTU":
        if (!/^\d+$/.test(value) || Number(value) > 0xffffffff) {
          throw new SubnetEnvError(
            path,
            `strconv.ParseUint: parsing ${JSON.stringify(value)}: invalid syntax (FLANNEL_MTU in ${path})`,
          );
        }
        mtu = Number(value);
        break;
      case "FLANNEL_IPMASQ":
        ipMasq = value === "true";
        break;
    }
  }
  const missing: string[] = [];
  if (!networks && !ipv6Networks) missing.push("FLANNEL_NETWORK", "FLANNEL_IPV6_NETWORK");
  if (subnet === undefined && ipv6Subnet === undefined) missing.push("FLANNEL_SUBNET", "FLANNEL_IPV6_SUBNET");
  if (mtu === undefined) missing.push("FLANNEL_MTU");
  if (ipMasq === undefined) missing.push("FLANNEL_IPMASQ");
  if (missing.length > 0 || mtu === undefined || ipMasq === undefined) {
    throw new SubnetEnvError(path, `${path} is missing ${missing.join(", ")}`);
  }
  return {
    networks: networks ?? [],
    ...(subnet !== undefined ? { subnet } : {}),
    ipv6Networks: ipv6Networks ?? [],
    ...(ipv6Subnet !== undefined ? { ipv6Subnet } : {}),
    mtu,
    ipMasq,
  };
}

/** subnet.env is a few hundred bytes; a file much larger is not one. */
export const SUBNET_ENV_MAX_BYTES = 64 * 1024;

/**
 * Read and parse subnet.env; a missing file says flanneld has not written it (yet). Only a regular
 * file is read, opened O_NONBLOCK and size-capped: a FIFO or a huge file there is an error, never a wait.
 */
export function readSubnetEnv(path: string): SubnetEnv {
  let text: string;
  try {
    text = readStateFile(path, SUBNET_ENV_MAX_BYTES);
  } catch (e) {
    if (e instanceof StateFileError) throw new SubnetEnvError(path, e.message);
    const code = (e as { code?: unknown }).code;
    if (code === "ENOENT") {
      throw new SubnetEnvError(
        path,
        `open ${path}: no such file or directory: flanneld is not running on this ` +
          "node or has not written its subnet yet (check the flanneld log on this node)",
        true,
      );
    }
    throw new SubnetEnvError(path, `open ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseSubnetEnv(text, path);
}

/** The gateway form written to the file: network address + 1, same prefix. */
function plusOne(cidr: string, key: string): string {
  const n = parseCidr(cidr);
  if (!n) throw new Error(`formatSubnetEnv: ${key} ${JSON.stringify(cidr)} is not a CIDR`);
  const m = maskNet(n);
  return formatCidr({ ...m, ip: m.ip + 1n });
}

/** Render subnet.env exactly as flanneld writes it. */
export function formatSubnetEnv(env: SubnetEnv): string {
  const lines: string[] = [];
  if (env.subnet !== undefined) {
    lines.push(`FLANNEL_NETWORK=${env.networks.join(",")}`);
    lines.push(`FLANNEL_SUBNET=${plusOne(env.subnet, "subnet")}`);
  }
  if (env.ipv6Subnet !== undefined) {
    lines.push(`FLANNEL_IPV6_NETWORK=${env.ipv6Networks.join(",")}`);
    lines.push(`FLANNEL_IPV6_SUBNET=${plusOne(env.ipv6Subnet, "ipv6Subnet")}`);
  }
  lines.push(`FLANNEL_MTU=${env.mtu}`);
  lines.push(`FLANNEL_IPMASQ=${env.ipMasq ? "true" : "false"}`);
  return `${lines.join("\n")}\n`;
}

/** pid and time of a writer's temp file of `base` (`.<base>.<pid>.<ms>.tmp`), if `name` is one. */
function tempOf(name: string, base: string): { readonly pid: number; readonly ms: number } | undefined {
  const prefix = `.${base}.`;
  if (!name.startsWith(prefix) || !name.endsWith(".tmp")) return undefined;
  const m = /^(\d+)\.(\d+)$/.exec(name.slice(prefix.length, -".tmp".length));
  return m ? { pid: Number(m[1]), ms: Number(m[2]) } : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: unknown }).code === "EPERM";
  }
}

/**
 * Remove temp files of `path` that earlier writers left when killed between creating and renaming
 * them: those of a process that is gone, or older than a minute (a pid can be reused, say by the
 * next flanneld as PID 1 of its container). flanneld is the one writer of its subnet file.
 */
function sweepWriterTemps(dir: string, base: string, now = Date.now()): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const t = tempOf(name, base);
    if (t && (now - t.ms >= 60_000 || (t.pid !== process.pid && !alive(t.pid))))
      rmSync(join(dir, name), { force: true });
  }
}

/**
 * Write subnet.env atomically: temp file in the same directory, fsync, rename; 0644; parent 0755.
 * Temp files of earlier writers killed mid-write are removed first.
 */
export function writeSubnetEnv(path: string, env: SubnetEnv): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  sweepWriterTemps(dir, basename(path));
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, "w", 0o644);
  try {
    writeSync(fd, formatSubnetEnv(env));
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  chmodSync(tmp, 0o644);
  renameSync(tmp, path);
  const dfd = openSync(dir, "r");
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}
