/**
 * host-local's CNI commands over typed inputs. They return values and throw CniErrors; skel owns
 * stdin/stdout and version conversion. The store is injected (`openStore`), so unit tests run the
 * real commands over a MemoryStore or a DiskStore with an in-process lock.
 *
 * Error codes (the msg keeps the reference text; details say what to do):
 *   7  config problems, a requested IP outside every range or equal to a gateway
 *   4  malformed CNI_ARGS; a second ADD for the same container + interface
 *   11 a requested IP held by another container, or no free address left (both clear up as
 *      containers are deleted, so "try again later" is the honest answer)
 *   5  unexpected file-system failures
 *   100 CHECK: the container holds no address here (plugin-specific; not 3, since the runtime
 *      should still clean the attachment up)
 *   50 STATUS: the data directory cannot be used
 */
import { readStateFile } from "../../net/state-file.ts";
import { CniError, ErrorCode, isCniError } from "../../libcni/types/error.ts";
import type { Dns, IPConfig100, Result100 } from "../../libcni/types/result.ts";
import { type JsonObject, field, isObject } from "../shared/conf.ts";
import { AllocationError, allocate } from "./allocator.ts";
import { type IpamConfig, loadIpamConfig, validAttachments } from "./config.ts";
import { parseResolvConf } from "./dns.ts";
import { formatCIDR, formatIP, parseCIDR } from "./ip.ts";
import { setContains } from "./range.ts";
import { type IpamStore, staleAllocations } from "./store.ts";

/** resolv.conf is read whole; a file larger than this is no resolv.conf. */
const RESOLV_CONF_MAX_BYTES = 256 * 1024;

/** Code for "CHECK found no address for this attachment" (plugin-specific range, 100+). */
export const ADDRESS_MISSING = 100;

/** The part of skel's CmdArgs host-local reads. */
export interface HostLocalArgs {
  readonly containerID: string;
  readonly ifName: string;
  /** Raw CNI_ARGS. */
  readonly args: string;
  /** The parsed stdin config. */
  readonly config: unknown;
}

export interface HostLocalDeps {
  /** Open (creating its directory) the store of one network. */
  openStore(o: { readonly dataDir: string; readonly network: string }): IpamStore;
  /** Read a text file (resolvConf). @default readStateFile: a regular file only, never blocking */
  readonly readFile?: (path: string) => string;
}

export interface HostLocalCommands {
  add(a: HostLocalArgs): Promise<Result100>;
  del(a: HostLocalArgs): Promise<void>;
  check(a: HostLocalArgs): Promise<void>;
  gc(a: Pick<HostLocalArgs, "config" | "args">): Promise<void>;
  status(a: Pick<HostLocalArgs, "config" | "args">): Promise<void>;
}

/**
 * An error's text; for Node's fs errors ("ENOENT: no such file or directory, open '/x'") just the
 * system's words, so messages read like the reference's ("open /x: no such file or directory").
 */
function errText(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return /^E[A-Z]+: ([^,]+), /.exec(text)?.[1] ?? text;
}

/** Anything not already a CniError is an unexpected I/O failure (code 5) of `what`. */
function ioError(what: string, e: unknown): CniError {
  if (isCniError(e)) return e;
  return new CniError(ErrorCode.IOFailure, `${what}: ${errText(e)}`);
}

function configObject(a: Pick<HostLocalArgs, "config">): JsonObject {
  if (!isObject(a.config)) throw new CniError(ErrorCode.DecodingFailure, "network config must be a JSON object");
  return a.config;
}

function openStore(deps: HostLocalDeps, conf: IpamConfig): IpamStore {
  try {
    return deps.openStore({ dataDir: conf.dataDir, network: conf.name });
  } catch (e) {
    throw ioError(`host-local: cannot open data directory for network ${conf.name}`, e);
  }
}

const ALLOCATION_CODES: Record<AllocationError["kind"], number> = {
  "not-in-range": ErrorCode.InvalidNetworkConfig,
  "is-gateway": ErrorCode.InvalidNetworkConfig,
  unavailable: ErrorCode.TryAgainLater,
  exhausted: ErrorCode.TryAgainLater,
  duplicate: ErrorCode.InvalidEnvironmentVariables,
};

const ALLOCATION_HINTS: Record<AllocationError["kind"], string> = {
  "not-in-range": "request an address between rangeStart and rangeEnd of that range set",
  "is-gateway": "the gateway is never handed out; request another address",
  unavailable: "another container holds it; retry after that container is deleted",
  exhausted: "every address is in use; delete unused containers or widen the range",
  duplicate: "this container and interface already have an address; DEL them before a new ADD",
};

function allocationError(idx: number, e: unknown): CniError {
  if (e instanceof AllocationError) {
    return new CniError(
      ALLOCATION_CODES[e.kind],
      `failed to allocate for range ${idx}: ${e.message}`,
      ALLOCATION_HINTS[e.kind],
    );
  }
  return ioError(`failed to allocate for range ${idx}`, e);
}

function readDns(deps: HostLocalDeps, path: string): Dns {
  let text: string;
  try {
    text = (deps.readFile ?? ((p: string) => readStateFile(p, RESOLV_CONF_MAX_BYTES)))(path);
  } catch (e) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `open ${path}: ${errText(e)}`,
      "ipam.resolvConf must name a readable resolv.conf file",
    );
  }
  const parsed = parseResolvConf(text);
  const dns: Dns = {};
  if (parsed.nameservers.length > 0) dns.nameservers = parsed.nameservers;
  if (parsed.domain !== "") dns.domain = parsed.domain;
  if (parsed.search.length > 0) dns.search = parsed.search;
  if (parsed.options.length > 0) dns.options = parsed.options;
  return dns;
}

/** Release what this ADD reserved (only records still owned by the attachment); best effort. */
async function rollback(store: IpamStore, a: HostLocalArgs, reserved: readonly string[]): Promise<void> {
  if (reserved.length === 0) return;
  try {
    await store.withLock(() => {
      const owned = new Set(store.findByID(a.containerID, a.ifName));
      for (const ip of reserved.filter((r) => owned.has(r))) {
        try {
          store.release(ip);
        } catch {
          // Keep going: release as much as possible.
        }
      }
    });
  } catch {
    // Best effort: the allocation error is what the caller must see.
  }
}

async function add(deps: HostLocalDeps, a: HostLocalArgs): Promise<Result100> {
  const conf = loadIpamConfig(configObject(a), a.args);
  const dns = conf.resolvConf === "" ? undefined : readDns(deps, conf.resolvConf);
  const store = openStore(deps, conf);
  const remaining = [...conf.requestedIPs];
  const reserved: string[] = [];
  const ips: IPConfig100[] = [];
  for (const [idx, set] of conf.ranges.entries()) {
    const i = remaining.findIndex((ip) => setContains(set, ip));
    const requested = i < 0 ? undefined : remaining.splice(i, 1)[0];
    const req = { containerID: a.containerID, ifname: a.ifName, set, rangeID: String(idx), requested };
    try {
      const got = await store.withLock(() => allocate(store, req));
      reserved.push(formatIP(got.address.ip));
      ips.push({ address: formatCIDR(got.address), gateway: formatIP(got.gateway) });
    } catch (e) {
      await rollback(store, a, reserved);
      throw allocationError(idx, e);
    }
  }
  if (remaining.length > 0) {
    await rollback(store, a, reserved);
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `failed to allocate all requested IPs: ${remaining.map(formatIP).join(" ")}`,
      "each requested IP must lie inside one range set, one IP per set",
    );
  }
  const result: Result100 = { cniVersion: "1.1.0", ips };
  if (conf.routes.length > 0) result.routes = conf.routes.map((r) => ({ ...r }));
  if (dns !== undefined && Object.keys(dns).length > 0) result.dns = dns;
  return result;
}

async function del(deps: HostLocalDeps, a: HostLocalArgs): Promise<void> {
  const conf = loadIpamConfig(configObject(a), a.args);
  const store = openStore(deps, conf);
  // One release per range set, each under the lock, as the reference does: with two or more sets
  // a later pass also clears legacy "ID only" files once the current-format ones are gone.
  const errors: string[] = [];
  for (const _set of conf.ranges) {
    try {
      await store.withLock(() => store.releaseByID(a.containerID, a.ifName));
    } catch (e) {
      errors.push(errText(e));
    }
  }
  if (errors.length > 0) {
    throw new CniError(
      ErrorCode.IOFailure,
      `host-local: failed to release the addresses of container ${a.containerID}: ${errors.join(";")}`,
    );
  }
}

/** Addresses of prevResult that fall in our range sets (CHECK verifies exactly those). */
function prevResultAddresses(config: JsonObject, conf: IpamConfig): string[] {
  const prev = field(config, "prevResult");
  const list = isObject(prev) ? field(prev, "ips") : undefined;
  if (!Array.isArray(list)) return [];
  const out: string[] = [];
  for (const entry of list) {
    const text = isObject(entry) ? field(entry, "address") : undefined;
    const net = typeof text === "string" ? parseCIDR(text) : undefined;
    if (net !== undefined && conf.ranges.some((s) => setContains(s, net.ip))) out.push(formatIP(net.ip));
  }
  return out;
}

async function check(deps: HostLocalDeps, a: HostLocalArgs): Promise<void> {
  const config = configObject(a);
  const conf = loadIpamConfig(config, a.args);
  const store = openStore(deps, conf);
  const held = await store
    .withLock(() => store.findByID(a.containerID, a.ifName))
    .catch((e: unknown) => {
      throw ioError("host-local: cannot read reservations", e);
    });
  if (held.length === 0) {
    throw new CniError(
      ADDRESS_MISSING,
      `host-local: Failed to find address added by container ${a.containerID}`,
      `no address of network ${conf.name} is reserved for interface ${a.ifName}; run DEL and ADD again`,
    );
  }
  for (const ip of prevResultAddresses(config, conf)) {
    if (!held.includes(ip)) {
      throw new CniError(
        ADDRESS_MISSING,
        `host-local: address ${ip} of prevResult is not reserved for container ${a.containerID}`,
        `it holds ${held.join(", ")}; run DEL and ADD again`,
      );
    }
  }
}

async function gc(deps: HostLocalDeps, a: Pick<HostLocalArgs, "config" | "args">): Promise<void> {
  const config = configObject(a);
  const conf = loadIpamConfig(config, a.args);
  const valid = validAttachments(config);
  const store = openStore(deps, conf);
  const failures = await store
    .withLock(() => {
      const errors: string[] = [];
      for (const stale of staleAllocations(store.list(), valid)) {
        try {
          store.release(stale.ip);
        } catch (e) {
          errors.push(`${stale.ip}: ${errText(e)}`);
        }
      }
      return errors;
    })
    .catch((e: unknown) => {
      throw ioError("host-local: GC cannot read reservations", e);
    });
  if (failures.length > 0)
    throw new CniError(ErrorCode.IOFailure, `host-local: GC could not release ${failures.join("; ")}`);
}

async function status(deps: HostLocalDeps, a: Pick<HostLocalArgs, "config" | "args">): Promise<void> {
  const conf = loadIpamConfig(configObject(a), a.args);
  try {
    deps.openStore({ dataDir: conf.dataDir, network: conf.name }).probe();
  } catch (e) {
    throw new CniError(
      ErrorCode.PluginNotAvailable,
      `host-local cannot use the data directory of network ${conf.name}: ${errText(e)}`,
      "make ipam.dataDir (default /var/lib/cni/networks) writable by the runtime",
    );
  }
}

/** The five commands bound to `deps`. */
export function hostLocalCommands(deps: HostLocalDeps): HostLocalCommands {
  return {
    add: (a) => add(deps, a),
    del: (a) => del(deps, a),
    check: (a) => check(deps, a),
    gc: (a) => gc(deps, a),
    status: (a) => status(deps, a),
  };
}
