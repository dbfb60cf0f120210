/**
 * Network configuration types and their decoders, shared by plugins (stdin) and the runtime
 * (files). Go decodes plugin configs into structs: keys match case-insensitively and unknown keys
 * are ignored (here: kept, so plugins can read their own keys and runtimes can pass them on).
 * The conflist top level is read by the reference as a map: exact key names there.
 * Wrong types are code 7 (invalid network config) and name the field.
 */
import { CniError, ErrorCode, isCniError } from "./error.ts";
import type { Dns } from "./result.ts";
import { decodeWith, describeValue, isObject } from "../validate/index.ts";
import { selectConfListVersion } from "../version.ts";

export { getField, findKey } from "../validate/index.ts";

/** IPAM section: `type` selects the IPAM plugin; the rest belongs to it. */
export interface IpamConf {
  readonly type: string;
  readonly [key: string]: unknown;
}

/** A GC call's still-valid attachment (`cni.dev/valid-attachments`). */
export interface GCAttachment {
  readonly containerID: string;
  readonly ifname: string;
}

/** One plugin's configuration. Known keys are typed and spelled canonically; all others are kept. */
export interface NetConf {
  /** "" when absent (skel and the runtime treat that as 0.1.0). */
  readonly cniVersion: string;
  /** "" when absent. */
  readonly name: string;
  /** Plugin binary name; "" when absent. */
  readonly type: string;
  readonly capabilities?: Readonly<Record<string, boolean>>;
  readonly ipam?: IpamConf;
  readonly dns?: Dns;
  /** Runtime-provided capability values (reserved key). */
  readonly runtimeConfig?: Readonly<Record<string, unknown>>;
  /** Runtime-provided args, e.g. args.cni.ips (reserved key). */
  readonly args?: Readonly<Record<string, unknown>>;
  /** Raw previous result; decode it with parsePrevResult. */
  readonly prevResult?: Readonly<Record<string, unknown>>;
  readonly "cni.dev/valid-attachments"?: readonly GCAttachment[];
  readonly [key: string]: unknown;
}

/** A network configuration list (.conflist). */
export interface NetConfList {
  /** The version the list runs at: `cniVersion`, or the newest usable of `cniVersions` (see selectConfListVersion). */
  readonly cniVersion: string;
  readonly cniVersions?: readonly string[];
  readonly name: string;
  /** @default false */
  readonly disableCheck: boolean;
  /** @default false */
  readonly disableGC: boolean;
  /** When true, plugins come only from `plugins`, never from `<dir>/<name>/*.conf`. @default false */
  readonly loadOnlyInlinedPlugins: boolean;
  /** Inlined plugins, decoded; [] when the key is absent (a present empty list is an error). */
  readonly plugins: readonly NetConf[];
  /** The object as given, for passing plugin entries through unchanged. */
  readonly raw: Readonly<Record<string, unknown>>;
}

function configObject(raw: unknown, prefix: string): Record<string, unknown> {
  let v = raw;
  if (typeof raw === "string") {
    try {
      v = JSON.parse(raw);
    } catch (e) {
      throw new CniError(
        ErrorCode.DecodingFailure,
        `${prefix}${e instanceof Error ? e.message : String(e)}`,
        "the configuration must be valid JSON",
      );
    }
  }
  if (v === null) return {};
  if (!isObject(v))
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `${prefix}the configuration must be a JSON object, got ${describeValue(v)}`,
    );
  return v;
}

/**
 * Decode one plugin configuration (JSON text or a parsed value). Throws CniError 7 naming the
 * field on a wrong type (e.g. `"ipam.type" must be a string, got 5`), 6 on invalid JSON text.
 */
export function decodeNetConf(raw: unknown): NetConf {
  const obj = configObject(raw, "");
  const c = decodeWith("netconf", obj, {
    code: ErrorCode.InvalidNetworkConfig,
    fold: true,
    keepUnknown: true,
    hint: "fix the network configuration",
  });
  const s = (k: string): string => (typeof c[k] === "string" ? (c[k] as string) : "");
  if (isObject(c["ipam"]))
    c["ipam"] = { ...c["ipam"], type: typeof c["ipam"]["type"] === "string" ? c["ipam"]["type"] : "" };
  return { ...c, cniVersion: s("cniVersion"), name: s("name"), type: s("type") };
}

const LIST = "error parsing configuration list: ";

/** Bool, or the strings "true"/"false" in any case (reference readBool). */
function readBool(c: Readonly<Record<string, unknown>>, key: string): boolean {
  const v = c[key];
  if (v === undefined) return false;
  if (typeof v === "boolean") return v;
  const s = String(v).toLowerCase();
  if (s === "true") return true;
  if (s === "false") return false;
  throw new CniError(
    ErrorCode.InvalidNetworkConfig,
    `${LIST}invalid value ${JSON.stringify(s)} for ${key}`,
    `set "${key}" to true or false`,
  );
}

/**
 * Decode a conflist (JSON text or a parsed value) like the reference NetworkConfFromBytes:
 * required string `name`, version selection from cniVersion/cniVersions, bools that may be
 * "true"/"false" strings, and every inlined plugin decoded with a required `type`.
 */
export function decodeNetConfList(raw: unknown): NetConfList {
  const obj = configObject(raw, LIST);
  if (!Object.hasOwn(obj, "name") || obj["name"] === null) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `${LIST}no name`,
      'add a "name" string to the configuration list',
    );
  }
  const c = decodeWith("conflist", obj, {
    code: ErrorCode.InvalidNetworkConfig,
    fold: false,
    keepUnknown: true,
    prefix: LIST,
  });
  const cniVersions = c["cniVersions"] as string[] | undefined;
  const cniVersion = selectConfListVersion(typeof c["cniVersion"] === "string" ? c["cniVersion"] : "", cniVersions);
  const loadOnlyInlinedPlugins = readBool(c, "loadOnlyInlinedPlugins");
  const entries = c["plugins"] as unknown[] | undefined;
  if (entries === undefined && loadOnlyInlinedPlugins) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `${LIST}\`loadOnlyInlinedPlugins\` is true, and no 'plugins' key`,
      'add a "plugins" list or set loadOnlyInlinedPlugins to false',
    );
  }
  if (entries !== undefined && entries.length === 0) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `${LIST}no plugins in list`,
      'add at least one plugin object to "plugins"',
    );
  }
  const plugins = (entries ?? []).map((p, i) => {
    try {
      const conf = decodeNetConf(p);
      if (conf.type === "")
        throw new CniError(
          ErrorCode.InvalidNetworkConfig,
          "error parsing configuration: missing 'type'",
          'set "type" to the plugin\'s binary name',
        );
      return conf;
    } catch (e) {
      const err = isCniError(e) ? e : new CniError(ErrorCode.InvalidNetworkConfig, String(e));
      throw new CniError(err.code, `failed to parse plugin config ${i}: ${err.msg}`, err.details);
    }
  });
  return {
    cniVersion,
    ...(cniVersions ? { cniVersions } : {}),
    name: c["name"] as string,
    disableCheck: readBool(c, "disableCheck"),
    disableGC: readBool(c, "disableGC"),
    loadOnlyInlinedPlugins,
    plugins,
    raw: obj,
  };
}
