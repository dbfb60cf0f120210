/**
 * The result cache, in Go libcni's on-disk format so either implementation can read the other's:
 * `<cacheDir>/results/<network>-<containerID>-<ifname>`, JSON written by Go's json.Marshal of
 *
 *   {"kind":"cniCacheV1","containerId","config":<base64 of the list bytes>,"ifName","networkName",
 *    "netns"?,"cniArgs"?:[["K","V"]],"capabilityArgs"?:{..},"result"?:{..}}
 *
 * (compact, that field order, maps with sorted keys; `?` = omitted when empty). Directory 0700,
 * file 0600, written atomically (temp file, fsync, rename). A file that is not cniCacheV1 is read
 * as a bare result (the legacy format).
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
} from "node:fs";
import { join } from "node:path";
import { type FileWriter, sweepTemps } from "../net/file-writer.ts";
import { readStateFile } from "../net/state-file.ts";
import type { RuntimeConf } from "./conf.ts";
import {
  fromJsonTree,
  getFieldFold,
  goString,
  isJsonMap,
  marshalGo,
  parseJsonTree,
  type JsonMap,
  type JsonTree,
} from "./invoke/gojson.ts";
import { convertResult, formatResult, parseResult, type AnyResult } from "./types/index.ts";
import { CniError, ErrorCode, isCniError } from "./types/error.ts";

export const CACHE_KIND_V1 = "cniCacheV1";
/** A cache file holds one result and the network's config: a few KiB; past this it is no cache file. */
const CACHE_FILE_MAX_BYTES = 16 * 1024 * 1024;
export const DEFAULT_CACHE_DIR = "/var/lib/cni";

/** One cache file's content. */
export interface CacheEntry {
  readonly kind: string;
  readonly containerId: string;
  /** The network configuration (list) bytes, as they were when the attachment was added. */
  readonly config: Uint8Array | null;
  readonly ifName: string;
  readonly networkName: string;
  readonly netns: string;
  readonly cniArgs: readonly (readonly [string, string])[];
  readonly capabilityArgs: Readonly<Record<string, unknown>> | undefined;
  /** The cached result as JSON (a map), if any. */
  readonly result: JsonMap | undefined;
}

/** An attachment found in the cache (reference: libcni.NetworkAttachment). */
export interface CachedAttachment {
  readonly containerId: string;
  readonly network: string;
  readonly ifName: string;
  readonly config: Uint8Array | null;
  readonly netns: string;
  readonly cniArgs: readonly (readonly [string, string])[];
  readonly capabilityArgs: Readonly<Record<string, unknown>> | undefined;
}

/** What the cache holds for a network attachment: the bytes Go's libcni would write. */
export function encodeCacheEntry(e: {
  readonly containerId: string;
  readonly config: Uint8Array;
  readonly ifName: string;
  readonly networkName: string;
  readonly netns?: string;
  readonly cniArgs?: readonly (readonly [string, string])[];
  readonly capabilityArgs?: Readonly<Record<string, unknown>>;
  readonly result?: AnyResult;
}): string {
  const fields = [
    `"kind":${goString(CACHE_KIND_V1)}`,
    `"containerId":${goString(e.containerId)}`,
    `"config":"${Buffer.from(e.config).toString("base64")}"`,
    `"ifName":${goString(e.ifName)}`,
    `"networkName":${goString(e.networkName)}`,
  ];
  if (e.netns) fields.push(`"netns":${goString(e.netns)}`);
  if (e.cniArgs && e.cniArgs.length > 0) fields.push(`"cniArgs":${marshalGo(e.cniArgs)}`);
  if (e.capabilityArgs && Object.keys(e.capabilityArgs).length > 0)
    fields.push(`"capabilityArgs":${marshalGo(e.capabilityArgs)}`);
  // Go marshals the result, decodes it into a map and marshals that: keys end up sorted.
  if (e.result) fields.push(`"result":${marshalGo(parseJsonTree(formatResult(e.result)))}`);
  return `{${fields.join(",")}}`;
}

class NotV1 extends Error {}

function str(m: JsonMap, key: string): string {
  const v = getFieldFold(m, key);
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new NotV1(key);
  return v;
}

function decodeArgs(v: JsonTree | undefined): [string, string][] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new NotV1("cniArgs");
  return (v as readonly JsonTree[]).map((p) => {
    if (p === null) return ["", ""];
    if (!Array.isArray(p)) throw new NotV1("cniArgs");
    const [k, val] = p as readonly JsonTree[];
    if (
      (k !== undefined && k !== null && typeof k !== "string") ||
      (val !== undefined && val !== null && typeof val !== "string")
    )
      throw new NotV1("cniArgs");
    return [typeof k === "string" ? k : "", typeof val === "string" ? val : ""];
  });
}

function decodeConfig(v: JsonTree | undefined): Uint8Array | null {
  if (v === undefined || v === null) return null;
  const clean = typeof v === "string" ? v.replace(/[\r\n]/g, "") : undefined;
  if (clean === undefined || !/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 !== 0) throw new NotV1("config");
  return new Uint8Array(Buffer.from(clean, "base64"));
}

/**
 * Decode a cache file as Go would into its struct (keys case-insensitive). Undefined when the
 * text does not decode (Go's Unmarshal fails); the kind is returned as found.
 */
export function decodeCacheEntry(text: string): CacheEntry | undefined {
  let t: JsonTree;
  try {
    t = parseJsonTree(text);
  } catch {
    return undefined;
  }
  if (t === null) t = new Map();
  if (!isJsonMap(t)) return undefined;
  try {
    const caps = getFieldFold(t, "capabilityArgs");
    const result = getFieldFold(t, "result");
    if (
      (caps !== undefined && caps !== null && !isJsonMap(caps)) ||
      (result !== undefined && result !== null && !isJsonMap(result))
    )
      return undefined;
    return {
      kind: str(t, "kind"),
      containerId: str(t, "containerId"),
      config: decodeConfig(getFieldFold(t, "config")),
      ifName: str(t, "ifName"),
      networkName: str(t, "networkName"),
      netns: str(t, "netns"),
      cniArgs: decodeArgs(getFieldFold(t, "cniArgs")),
      capabilityArgs: isJsonMap(caps) && caps.size > 0 ? Object.fromEntries(caps) : undefined,
      result: isJsonMap(result) ? result : undefined,
    };
  } catch (e) {
    if (e instanceof NotV1) return undefined;
    throw e;
  }
}

type AttachmentKey = Pick<RuntimeConf, "containerId" | "ifName">;

/** Write `text` to `file` atomically: temp file in the same dir, fsync, rename, fsync the dir. */
export function writeFileAtomic(file: string, text: string, mode: number): void {
  const dir = join(file, "..");
  const hex = Math.floor(Math.random() * 0x100000000)
    .toString(16)
    .padStart(8, "0");
  const tmp = join(dir, `.${file.slice(dir.length + 1)}.tmp-${process.pid}-${hex}`);
  const fd = openSync(tmp, "wx", mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  try {
    const dfd = openSync(dir, "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Directory fsync is best effort (some filesystems refuse it).
  }
}

export class ResultCache {
  /**
   * `files` writes the cache files (the binary's cnitool passes the unnamed writer: nothing is left
   * by a cnitool killed mid-write); without it, a named temp file is synced and renamed into place,
   * and temp files of killed writers are removed on the next write.
   */
  constructor(
    readonly dir: string = DEFAULT_CACHE_DIR,
    private readonly files?: FileWriter,
  ) {}

  /** `<dir>/results/<network>-<containerID>-<ifname>`; all three parts are required. */
  path(network: string, rt: AttachmentKey): string {
    if (network === "" || rt.containerId === "" || rt.ifName === "") {
      throw new CniError(
        ErrorCode.InvalidEnvironmentVariables,
        `cache file path requires network name (${JSON.stringify(network)}), container ID ` +
          `(${JSON.stringify(rt.containerId)}), and interface name (${JSON.stringify(rt.ifName)})`,
      );
    }
    return join(this.dir, "results", `${network}-${rt.containerId}-${rt.ifName}`);
  }

  /** Record a successful ADD. */
  write(network: string, config: Uint8Array, rt: RuntimeConf, result: AnyResult): void {
    const file = this.path(network, rt);
    const text = encodeCacheEntry({
      containerId: rt.containerId,
      config,
      ifName: rt.ifName,
      networkName: network,
      netns: rt.netns,
      ...(rt.args ? { cniArgs: rt.args } : {}),
      ...(rt.capabilityArgs ? { capabilityArgs: rt.capabilityArgs } : {}),
      result,
    });
    try {
      mkdirSync(join(file, ".."), { recursive: true, mode: 0o700 });
      if (this.files) {
        this.files.replace(file, text, 0o600);
      } else {
        writeFileAtomic(file, text, 0o600);
        sweepTemps(join(file, ".."), 60_000);
      }
    } catch (e) {
      throw new CniError(
        ErrorCode.IOFailure,
        `failed to set network ${JSON.stringify(network)} cached result: ${(e as Error).message}`,
        `check that ${this.dir} is a writable directory (set CNI_CACHE_DIR to use another)`,
      );
    }
  }

  private read(network: string, rt: AttachmentKey): string | undefined {
    try {
      return readStateFile(this.path(network, rt), CACHE_FILE_MAX_BYTES);
    } catch (e) {
      if (isCniError(e)) throw e;
      return undefined; // a missing cache is not an error
    }
  }

  /**
   * The cached result converted to `cniVersion`, or undefined if nothing is cached. A file that
   * is not cniCacheV1 is read as a bare result (legacy format).
   */
  readResult(network: string, rt: AttachmentKey, cniVersion: string): AnyResult | undefined {
    const text = this.read(network, rt);
    if (text === undefined) return undefined;
    const entry = decodeCacheEntry(text);
    let raw: unknown;
    if (entry && entry.kind === CACHE_KIND_V1) raw = entry.result ? fromJsonTree(entry.result) : {};
    else {
      try {
        raw = JSON.parse(text);
      } catch (e) {
        throw new CniError(ErrorCode.DecodingFailure, `cached result is not JSON: ${(e as Error).message}`);
      }
    }
    const result = parseResult(raw);
    try {
      return convertResult(result, cniVersion);
    } catch (e) {
      const msg = isCniError(e) ? e.message : String(e);
      throw new CniError(
        isCniError(e) ? e.code : ErrorCode.IncompatibleCNIVersion,
        `failed to convert cached result to config version "${cniVersion}": ${msg}`,
      );
    }
  }

  /** The cached config bytes and runtime arguments (reference: getCachedConfig). */
  readConfig(network: string, rt: RuntimeConf): { config: Uint8Array | null; rt: RuntimeConf } | undefined {
    const text = this.read(network, rt);
    if (text === undefined) return undefined;
    const entry = decodeCacheEntry(text);
    if (!entry)
      throw new CniError(
        ErrorCode.DecodingFailure,
        `failed to unmarshal cached network ${JSON.stringify(network)} config`,
      );
    if (entry.kind !== CACHE_KIND_V1)
      throw new CniError(
        ErrorCode.DecodingFailure,
        `read cached network ${JSON.stringify(network)} config has wrong kind: ${entry.kind}`,
      );
    const { capabilityArgs: _drop, ...base } = rt;
    return {
      config: entry.config,
      rt: {
        ...base,
        args: entry.cniArgs.length > 0 ? entry.cniArgs : (rt.args ?? []),
        ...(entry.capabilityArgs ? { capabilityArgs: entry.capabilityArgs } : {}),
      },
    };
  }

  /** Remove the cache file; a missing one is fine. */
  delete(network: string, rt: AttachmentKey): void {
    try {
      unlinkSync(this.path(network, rt));
    } catch {
      // nothing cached, or not removable: DEL still succeeded
    }
  }

  /** Every cniCacheV1 attachment, files sorted by name; only those of `containerId` if given. */
  attachments(containerId = ""): CachedAttachment[] {
    const dir = join(this.dir, "results");
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (e) {
      if ((e as { code?: string }).code === "ENOENT") return [];
      throw new CniError(ErrorCode.IOFailure, `cannot read the result cache ${dir}: ${(e as Error).message}`);
    }
    const out: CachedAttachment[] = [];
    for (const name of names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) {
      if (name.startsWith(".")) continue; // our own in-flight temp files
      if (containerId !== "") {
        const part = `-${containerId}-`;
        const pos = name.indexOf(part);
        if (pos <= 0 || pos + part.length >= name.length) continue;
      }
      let text: string;
      try {
        text = readStateFile(join(dir, name), CACHE_FILE_MAX_BYTES);
      } catch {
        continue;
      }
      const e = decodeCacheEntry(text);
      if (!e || e.kind !== CACHE_KIND_V1) continue;
      if (containerId !== "" && e.containerId !== containerId) continue;
      if (e.ifName === "" || e.networkName === "") continue;
      out.push({
        containerId: e.containerId,
        network: e.networkName,
        ifName: e.ifName,
        config: e.config,
        netns: e.netns,
        cniArgs: e.cniArgs,
        capabilityArgs: e.capabilityArgs,
      });
    }
    return out;
  }
}
