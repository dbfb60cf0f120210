/**
 * The config a runtime sends a plugin (reference: libcni buildOneConfig / InjectConf): the
 * plugin's own object with `name`, `cniVersion`, `prevResult` and `runtimeConfig` set. The bytes
 * are what Go's libcni sends (keys sorted, as Go marshals a map), except that number literals of
 * the user's config are passed through as written instead of through float64.
 */
import { CniError, ErrorCode } from "../types/error.ts";
import { formatResult, type AnyResult } from "../types/index.ts";
import { compactGo, marshalGo, parseJsonTree, RawJson, toJsonTree, type JsonMap, type JsonTree } from "./gojson.ts";

/** The parts of a plugin config injection needs. */
export interface InjectablePlugin {
  readonly raw: JsonMap;
  readonly capabilities: Readonly<Record<string, boolean>>;
}

/** Set top-level keys of the plugin's config and return the JSON text. */
export function injectConf(plugin: Pick<InjectablePlugin, "raw">, values: ReadonlyMap<string, unknown>): string {
  const m: JsonMap = new Map(plugin.raw);
  for (const [k, v] of values) {
    if (k === "") throw new CniError(ErrorCode.Internal, "keys cannot be empty");
    if (v === undefined || v === null) throw new CniError(ErrorCode.Internal, `key '${k}' value must not be nil`);
    m.set(k, v instanceof RawJson ? v : toJsonTree(v));
  }
  return marshalGo(m);
}

/** runtimeConfig: the supplied capability args the plugin has enabled (undefined when none). */
export function runtimeConfigFor(
  capabilities: Readonly<Record<string, boolean>>,
  capabilityArgs: Readonly<Record<string, unknown>> | undefined,
): JsonMap | undefined {
  if (!capabilityArgs) return undefined;
  const rc: JsonMap = new Map();
  for (const [cap, enabled] of Object.entries(capabilities)) {
    if (enabled && Object.hasOwn(capabilityArgs, cap)) rc.set(cap, toJsonTree(capabilityArgs[cap] ?? null));
  }
  return rc.size > 0 ? rc : undefined;
}

export interface BuildOptions {
  readonly name: string;
  readonly cniVersion: string;
  readonly prevResult?: AnyResult | undefined;
  readonly capabilityArgs?: Readonly<Record<string, unknown>> | undefined;
}

/** The stdin for one plugin invocation of a network (ADD, CHECK, DEL). */
export function buildOneConfig(plugin: InjectablePlugin, o: BuildOptions): string {
  const rc = runtimeConfigFor(plugin.capabilities, o.capabilityArgs);
  const values = new Map<string, unknown>([
    ["name", o.name],
    ["cniVersion", o.cniVersion],
  ]);
  if (o.prevResult) {
    const text = formatResult(o.prevResult);
    // Go embeds the result struct as marshalled; a second injection pass (runtimeConfig)
    // decodes it into a map, which sorts its keys.
    const prev: JsonTree | RawJson = rc ? parseJsonTree(text) : new RawJson(compactGo(text));
    values.set("prevResult", prev);
  }
  if (rc) values.set("runtimeConfig", rc);
  return injectConf(plugin, values);
}
