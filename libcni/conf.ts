/**
 * Network configuration files: parse a conflist (or a legacy single-plugin .conf) and find one by
 * network name in a directory, with the reference rules (libcni/conf.go): files sorted, .conflist
 * first, .conf/.json upconverted, `<dir>/<name>/*.conf` plugins appended, version picked from
 * `cniVersions`. Messages start with the reference words and then say which file and what to fix.
 */
import { readdirSync } from "node:fs";
import { readStateBytes } from "../net/state-file.ts";
import { join } from "node:path";
import { getFieldFold, isJsonMap, marshalGo, parseJsonTree, type JsonMap, type JsonTree } from "./invoke/gojson.ts";
import { compareVersions, CURRENT_VERSION, parseVersion } from "./version.ts";
import { CniError, ErrorCode, isCniError } from "./types/error.ts";

/** One plugin of a network: what libcni reads from it, plus the object itself (numbers intact). */
export interface PluginConf {
  readonly type: string;
  /** The plugin object's own `name`, if any (used in error messages). */
  readonly name: string;
  /** The plugin object's own `cniVersion`, if any. */
  readonly cniVersion: string;
  readonly capabilities: Readonly<Record<string, boolean>>;
  readonly raw: JsonMap;
}

export interface NetworkConfigList {
  readonly name: string;
  /** The selected spec version ("" when the file names none). */
  readonly cniVersion: string;
  readonly disableCheck: boolean;
  readonly disableGC: boolean;
  readonly loadOnlyInlinedPlugins: boolean;
  readonly plugins: readonly PluginConf[];
  /** The list as read (what the result cache stores). */
  readonly bytes: Uint8Array;
}

/** The per-attachment arguments of one invocation (reference: libcni.RuntimeConf). */
export interface RuntimeConf {
  readonly containerId: string;
  /** Path of the pod's network namespace. */
  readonly netns: string;
  readonly ifName: string;
  /** CNI_ARGS pairs. */
  readonly args?: readonly (readonly [string, string])[];
  /** Capability values offered to plugins (runtimeConfig), e.g. {portMappings: [...]}. */
  readonly capabilityArgs?: Readonly<Record<string, unknown>>;
}

/** A legacy single-plugin network (a .conf file). */
export interface NetworkConfig {
  readonly plugin: PluginConf;
  readonly bytes: Uint8Array;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const toBytes = (b: Uint8Array | string): Uint8Array => (typeof b === "string" ? enc.encode(b) : b);

function confError(msg: string, details = "", code: number = ErrorCode.InvalidNetworkConfig): CniError {
  return new CniError(code, msg, details);
}

function goType(v: JsonTree | undefined): string {
  if (v === null || v === undefined) return "<nil>";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  if (Array.isArray(v)) return "[]interface {}";
  return isJsonMap(v) ? "map[string]interface {}" : "float64";
}

function parseObject(bytes: Uint8Array, prefix: string): JsonMap {
  let t: JsonTree;
  try {
    t = parseJsonTree(dec.decode(bytes));
  } catch (e) {
    throw confError(
      `${prefix}: ${(e as Error).message}`,
      "the file must hold one JSON object",
      ErrorCode.DecodingFailure,
    );
  }
  if (!isJsonMap(t))
    throw confError(`${prefix}: expected a JSON object, got ${goType(t)}`, "", ErrorCode.DecodingFailure);
  return t;
}

function optString(m: JsonMap, key: string, prefix: string): string {
  const v = getFieldFold(m, key);
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw confError(`${prefix}: "${key}" must be a string, got ${goType(v)}`);
  return v;
}

/** Parse one plugin object (reference: NetworkPluginConfFromBytes). */
export function pluginConfFromTree(raw: JsonMap): PluginConf {
  const prefix = "error parsing configuration";
  const type = optString(raw, "type", prefix);
  const caps = getFieldFold(raw, "capabilities");
  const capabilities: Record<string, boolean> = {};
  if (caps !== undefined && caps !== null) {
    if (!isJsonMap(caps)) throw confError(`${prefix}: "capabilities" must be an object of booleans`);
    for (const [k, v] of caps) {
      if (typeof v !== "boolean")
        throw confError(`${prefix}: capability "${k}" must be true or false, got ${goType(v)}`);
      capabilities[k] = v;
    }
  }
  const name = optString(raw, "name", prefix);
  const cniVersion = optString(raw, "cniVersion", prefix);
  if (type === "")
    throw confError(`${prefix}: missing 'type'`, 'each plugin needs "type": the plugin binary\'s name in CNI_PATH');
  return { type, name, cniVersion, capabilities, raw };
}

export function confFromBytes(bytes: Uint8Array | string): NetworkConfig {
  const b = toBytes(bytes);
  return { plugin: pluginConfFromTree(parseObject(b, "error parsing configuration")), bytes: b };
}

function readBool(m: JsonMap, key: string): boolean {
  const v = m.get(key);
  if (v === undefined) return false;
  if (typeof v === "boolean") return v;
  if (typeof v !== "string")
    throw confError(`error parsing configuration list: invalid type ${goType(v)} for ${key}`, `use true or false`);
  const s = v.toLowerCase();
  if (s === "true" || s === "false") return s === "true";
  throw confError(`error parsing configuration list: invalid value "${s}" for ${key}`, `use true or false`);
}

/** Pick the version: the highest of `cniVersions` (+ `cniVersion`) that this libcni implements. */
function selectVersion(m: JsonMap, cniVersion: string): string {
  const raw = m.get("cniVersions");
  if (raw === undefined) return cniVersion;
  const P = "error parsing configuration list";
  if (!Array.isArray(raw))
    throw confError(
      `${P}: invalid type for cniVersions: ${goType(raw)}`,
      'use a list of version strings, e.g. ["1.0.0", "1.1.0"]',
    );
  const usable: string[] = [];
  const consider = (v: string, what: string): void => {
    try {
      parseVersion(v);
    } catch (e) {
      throw confError(`${P}: invalid ${what}: ${isCniError(e) ? e.msg : String(e)}`, "versions look like 1.1.0");
    }
    if (compareVersions(v, CURRENT_VERSION) <= 0) usable.push(v);
  };
  (raw as readonly JsonTree[]).forEach((v, i) => {
    if (typeof v !== "string") throw confError(`${P}: invalid type for cniVersions index ${i}: ${goType(v)}`);
    consider(v, `cniVersions entry ${v} at index ${i}`);
  });
  if (cniVersion !== "") consider(cniVersion, `cniVersion ${cniVersion}`);
  usable.sort(compareVersions);
  return usable[usable.length - 1] ?? cniVersion;
}

/** Parse a conflist (reference: NetworkConfFromBytes). Keys of the list itself are case-sensitive. */
export function confListFromBytes(bytes: Uint8Array | string): NetworkConfigList {
  const P = "error parsing configuration list";
  const b = toBytes(bytes);
  const m = parseObject(b, P);
  const rawName = m.get("name");
  if (rawName === undefined)
    throw confError(`${P}: no name`, 'add a top-level "name" (the network name runtimes ask for)');
  if (typeof rawName !== "string")
    throw confError(`${P}: invalid name type ${goType(rawName)}`, '"name" must be a string');
  const rawVersion = m.get("cniVersion");
  if (rawVersion !== undefined && typeof rawVersion !== "string")
    throw confError(
      `${P}: invalid cniVersion type ${goType(rawVersion)}`,
      '"cniVersion" must be a string such as "1.1.0"',
    );
  const cniVersion = selectVersion(m, rawVersion ?? "");
  const disableCheck = readBool(m, "disableCheck");
  const disableGC = readBool(m, "disableGC");
  const loadOnlyInlinedPlugins = readBool(m, "loadOnlyInlinedPlugins");
  const base = { name: rawName, cniVersion, disableCheck, disableGC, loadOnlyInlinedPlugins, bytes: b };
  const plug = m.get("plugins");
  if (plug === undefined) {
    if (loadOnlyInlinedPlugins)
      throw confError(
        `${P}: \`loadOnlyInlinedPlugins\` is true, and no 'plugins' key`,
        'add a "plugins" list or set loadOnlyInlinedPlugins to false',
      );
    return { ...base, plugins: [] };
  }
  if (!Array.isArray(plug))
    throw confError(`${P}: invalid 'plugins' type ${goType(plug)}`, '"plugins" must be a list of plugin objects');
  const list = plug as readonly JsonTree[];
  if (list.length === 0) throw confError(`${P}: no plugins in list`, 'add at least one plugin object to "plugins"');
  const plugins = list.map((p, i) => {
    try {
      if (!isJsonMap(p)) throw confError(`error parsing configuration: expected a plugin object, got ${goType(p)}`);
      return pluginConfFromTree(p);
    } catch (e) {
      const ce = isCniError(e) ? e : confError(String(e));
      throw new CniError(ce.code, `failed to parse plugin config ${i}: ${ce.msg}`, ce.details);
    }
  });
  return { ...base, plugins };
}

/** Files of `dir` whose extension is one of `exts` (not sorted). A missing dir has none. */
export function confFiles(dir: string, exts: readonly string[]): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return [];
    throw confError(
      `cannot read configuration directory ${dir}: ${(e as Error).message}`,
      "check NETCONFPATH and the directory's permissions",
      ErrorCode.IOFailure,
    );
  }
  return entries
    .filter((e) => !e.isDirectory())
    .filter((e) => {
      const dot = e.name.lastIndexOf(".");
      return dot >= 0 && exts.includes(e.name.slice(dot));
    })
    .map((e) => join(dir, e.name));
}

/** A network configuration file is a few KiB; a runtime's config is capped at this. */
const CONF_FILE_MAX_BYTES = 16 * 1024 * 1024;

const byBytes = (a: string, b: string): number => Buffer.compare(enc.encode(a), enc.encode(b));

function readConfFile(file: string): Uint8Array {
  try {
    return readStateBytes(file, CONF_FILE_MAX_BYTES);
  } catch (e) {
    throw confError(`error reading ${file}: ${(e as Error).message}`, "", ErrorCode.IOFailure);
  }
}

/** Name the file in the error, so the user knows what to edit. */
function inFile<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!isCniError(e)) throw e;
    throw new CniError(e.code, e.msg, [e.details, `in ${file}`].filter((s) => s !== "").join("; "));
  }
}

/** `<dir>/<network>/*.conf` plugin files, sorted (reference: NetworkPluginConfsFromFiles). */
export function pluginConfsFromFiles(confDir: string, network: string): PluginConf[] {
  const dir = join(confDir, network);
  let files: string[];
  try {
    files = confFiles(dir, [".conf"]).sort(byBytes);
  } catch (e) {
    throw confError(
      `failed to read plugin config files in ${dir}: ${isCniError(e) ? e.msg : String(e)}`,
      "",
      ErrorCode.IOFailure,
    );
  }
  return files.map((f) => inFile(f, () => confFromBytes(readConfFile(f)).plugin));
}

/** Read a conflist file and append its `<dir>/<name>/*.conf` plugins (reference: NetworkConfFromFile). */
export function confListFromFile(file: string): NetworkConfigList {
  const list = inFile(file, () => confListFromBytes(readConfFile(file)));
  const extra = list.loadOnlyInlinedPlugins ? [] : pluginConfsFromFiles(join(file, ".."), list.name);
  const plugins = [...list.plugins, ...extra];
  if (plugins.length === 0) {
    throw confError(
      "no plugin configs found",
      `${file} has no "plugins" and ${join(file, "..", list.name)}/ holds no .conf plugin files`,
    );
  }
  return { ...list, plugins };
}

/** Upconvert a single-plugin config into a one-plugin list (reference: ConfListFromConf). */
export function confListFromConf(c: NetworkConfig): NetworkConfigList {
  const bytes = marshalGo(
    new Map<string, JsonTree>([
      ["cniVersion", c.plugin.cniVersion],
      ["name", c.plugin.name],
      ["plugins", [c.plugin.raw]],
    ]),
  );
  return confListFromBytes(bytes);
}

function notFound(dir: string, name: string, seen: readonly string[]): CniError {
  const hint =
    seen.length > 0
      ? `networks found there: ${seen.map((n) => `"${n}"`).join(", ")}`
      : 'check NETCONFPATH and the "name" in your config files';
  return confError(`no net configuration with name "${name}" in ${dir}`, hint);
}

/** Search *.conf and *.json (sorted) for a single-plugin config named `name`. */
function findSingle(dir: string, name: string): { found?: NetworkConfig; seen: string[]; files: number } {
  const files = confFiles(dir, [".conf", ".json"]).sort(byBytes);
  const seen: string[] = [];
  for (const f of files) {
    const c = inFile(f, () => confFromBytes(readConfFile(f)));
    if (c.plugin.name === name) return { found: c, seen, files: files.length };
    seen.push(c.plugin.name);
  }
  return { seen, files: files.length };
}

const noConfigs = (dir: string): CniError =>
  confError(
    `no net configurations found in ${dir}`,
    "add a .conflist file there, or point NETCONFPATH at the right directory",
  );

/** Find a legacy single-plugin config by name among *.conf and *.json (reference: LoadConf). */
export function loadConf(dir: string, name: string): NetworkConfig {
  const r = findSingle(dir, name);
  if (r.found) return r.found;
  throw r.files === 0 ? noConfigs(dir) : notFound(dir, name, r.seen);
}

/**
 * Find network `name` in `dir`: the first *.conflist (sorted) with that name, else a *.conf/*.json
 * single-plugin config, upconverted (reference: LoadNetworkConf). A malformed file aborts the search.
 */
export function loadConfList(dir: string, name: string): NetworkConfigList {
  const files = confFiles(dir, [".conflist"]).sort(byBytes);
  const seen: string[] = [];
  for (const f of files) {
    const list = confListFromFile(f);
    if (list.name === name) return list;
    seen.push(list.name);
  }
  const single = findSingle(dir, name);
  if (single.found) return confListFromConf(single.found);
  if (files.length === 0 && single.files === 0) throw noConfigs(dir);
  throw notFound(dir, name, [...seen, ...single.seen]);
}
