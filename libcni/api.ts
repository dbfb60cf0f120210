/**
 * The runtime side of CNI (reference: libcni/api.go): run a network's plugins for ADD, CHECK,
 * DEL, GC and STATUS, keep the result cache, validate configs. `CniRuntime` is the interface;
 * `CniConfig` implements it over a `PluginExec` (RawExec by default, RecordingExec in tests).
 */
import type { FileWriter } from "../net/file-writer.ts";
import { DEFAULT_CACHE_DIR, ResultCache, type CachedAttachment } from "./cache.ts";
import type { NetworkConfig, NetworkConfigList, PluginConf, RuntimeConf } from "./conf.ts";
import { goQuote, pluginEnv, type CniArgs, type PluginExec } from "./invoke/exec.ts";
import { buildOneConfig, injectConf } from "./invoke/inject.ts";
import { RawExec } from "./invoke/raw-exec.ts";
import { execPluginWithoutResult, execPluginWithResult, getVersionInfo, type PluginInfo } from "./invoke/result.ts";
import { CniError, ErrorCode, toCniError, type AnyResult } from "./types/index.ts";
import { validateContainerID, validateInterfaceName, validateNetworkName } from "./validate/names.ts";
import { versionAtLeast } from "./version.ts";

/** An attachment that is still in use, for GC (reference: types.GCAttachment). */
export interface GCAttachment {
  readonly containerID: string;
  readonly ifname: string;
}

export interface GCArgs {
  readonly validAttachments: readonly GCAttachment[];
}

export interface CniRuntime {
  addNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<AnyResult>;
  checkNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<void>;
  delNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<void>;
  getNetworkListCachedResult(list: NetworkConfigList, rt: RuntimeConf): Promise<AnyResult | undefined>;
  getNetworkListCachedConfig(
    list: NetworkConfigList,
    rt: RuntimeConf,
  ): Promise<{ config: Uint8Array | null; rt: RuntimeConf } | undefined>;
  addNetwork(net: NetworkConfig, rt: RuntimeConf): Promise<AnyResult>;
  checkNetwork(net: NetworkConfig, rt: RuntimeConf): Promise<void>;
  delNetwork(net: NetworkConfig, rt: RuntimeConf): Promise<void>;
  /** Every plugin exists and supports the list's version; resolves to the enabled capabilities. */
  validateNetworkList(list: NetworkConfigList): Promise<string[]>;
  validateNetwork(net: NetworkConfig): Promise<string[]>;
  /** DEL cached attachments not in `args` (all of them when args is undefined), then GC each plugin. */
  gcNetworkList(list: NetworkConfigList, args?: GCArgs): Promise<void>;
  getStatusNetworkList(list: NetworkConfigList): Promise<void>;
  getCachedAttachments(containerId?: string): Promise<CachedAttachment[]>;
  getVersionInfo(pluginType: string): Promise<PluginInfo>;
}

export interface CniConfigOptions {
  /** Directories searched for plugin binaries (CNI_PATH). */
  readonly path: readonly string[];
  /** Root of the result cache. @default "/var/lib/cni" */
  readonly cacheDir?: string;
  /** How plugins are run. @default a RawExec (child processes) */
  readonly exec?: PluginExec;
  /** Environment plugins inherit, under the CNI_* variables. @default process.env */
  readonly baseEnv?: Readonly<Record<string, string | undefined>>;
  /** Per-plugin timeout. @default the exec's (60 s for RawExec) */
  readonly timeoutMs?: number;
  /** How cache files get written. @default named temp file, fsync, rename (ResultCache) */
  readonly files?: FileWriter;
}

/** One plugin invocation of a network. */
interface Invocation {
  readonly name: string;
  readonly version: string;
  readonly plugin: PluginConf;
  readonly prev: AnyResult | undefined;
  readonly rt: RuntimeConf;
}

function describePlugin(p: PluginConf): string {
  return `type=${goQuote(p.type)}${p.name ? ` name=${goQuote(p.name)}` : ""}`;
}

/** Prefix an error, keeping its CNI code (Go wraps with %w). */
function wrap(prefix: string, e: unknown): CniError {
  const ce = toCniError(e);
  return new CniError(ce.code, `${prefix}${ce.msg}`, ce.details);
}

function atLeast(v: string, min: string): boolean {
  try {
    return versionAtLeast(v, min);
  } catch {
    return false;
  }
}

export class CniConfig implements CniRuntime {
  readonly path: readonly string[];
  readonly cache: ResultCache;
  private readonly exec: PluginExec;
  private readonly baseEnv: Readonly<Record<string, string | undefined>>;
  private readonly timeoutMs: number | undefined;

  constructor(opts: CniConfigOptions) {
    this.path = opts.path;
    this.cache = new ResultCache(opts.cacheDir ?? DEFAULT_CACHE_DIR, opts.files);
    this.exec = opts.exec ?? new RawExec();
    this.baseEnv = opts.baseEnv ?? process.env;
    this.timeoutMs = opts.timeoutMs;
  }

  private call(
    path: string,
    conf: string,
    args: CniArgs,
  ): { path: string; conf: string; env: Record<string, string>; timeoutMs?: number } {
    const env = pluginEnv(this.baseEnv, { ...args, path: this.path });
    return { path, conf, env, ...(this.timeoutMs === undefined ? {} : { timeoutMs: this.timeoutMs }) };
  }

  private rtArgs(command: string, rt: RuntimeConf): CniArgs {
    return { command, containerId: rt.containerId, netns: rt.netns, ifName: rt.ifName, pluginArgs: rt.args ?? [] };
  }

  private stdin(i: Invocation): string {
    return buildOneConfig(i.plugin, {
      name: i.name,
      cniVersion: i.version,
      prevResult: i.prev,
      capabilityArgs: i.rt.capabilityArgs,
    });
  }

  private async addOne(i: Invocation): Promise<AnyResult> {
    const path = this.exec.findInPath(i.plugin.type, this.path);
    validateContainerID(i.rt.containerId);
    validateNetworkName(i.name);
    validateInterfaceName(i.rt.ifName);
    return execPluginWithResult(this.exec, this.call(path, this.stdin(i), this.rtArgs("ADD", i.rt)));
  }

  private async noResult(command: "CHECK" | "DEL", i: Invocation): Promise<void> {
    const path = this.exec.findInPath(i.plugin.type, this.path);
    await execPluginWithoutResult(this.exec, this.call(path, this.stdin(i), this.rtArgs(command, i.rt)));
  }

  async addNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<AnyResult> {
    let result: AnyResult | undefined;
    for (const p of list.plugins) {
      try {
        result = await this.addOne({ name: list.name, version: list.cniVersion, plugin: p, prev: result, rt });
      } catch (e) {
        throw wrap(`plugin ${describePlugin(p)} failed (add): `, e);
      }
    }
    if (!result)
      throw new CniError(
        ErrorCode.InvalidNetworkConfig,
        `network ${JSON.stringify(list.name)} has no plugins`,
        'add plugin objects to "plugins"',
      );
    this.cache.write(list.name, list.bytes, rt, result);
    return result;
  }

  /** The cached result for CHECK (errors are CHECK's errors). */
  private cachedForCheck(name: string, version: string, rt: RuntimeConf): AnyResult | undefined {
    try {
      return this.cache.readResult(name, rt, version);
    } catch (e) {
      throw wrap(`failed to get network ${JSON.stringify(name)} cached result: `, e);
    }
  }

  private requireCheck(version: string): void {
    if (!versionAtLeast(version, "0.4.0")) {
      throw new CniError(
        ErrorCode.IncompatibleCNIVersion,
        `configuration version ${JSON.stringify(version)} does not support the CHECK command`,
        'CHECK needs cniVersion "0.4.0" or later',
      );
    }
  }

  async checkNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    this.requireCheck(list.cniVersion);
    if (list.disableCheck) return;
    const cached = this.cachedForCheck(list.name, list.cniVersion, rt);
    for (const p of list.plugins)
      await this.noResult("CHECK", { name: list.name, version: list.cniVersion, plugin: p, prev: cached, rt });
  }

  /** The cached result for DEL; an unreadable cache is dropped, not an error. */
  private cachedForDel(name: string, version: string, rt: RuntimeConf): AnyResult | undefined {
    if (!versionAtLeast(version, "0.4.0")) return undefined;
    try {
      return this.cache.readResult(name, rt, version);
    } catch {
      this.cache.delete(name, rt);
      return undefined;
    }
  }

  async delNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    const cached = this.cachedForDel(list.name, list.cniVersion, rt);
    for (const p of [...list.plugins].reverse()) {
      try {
        await this.noResult("DEL", { name: list.name, version: list.cniVersion, plugin: p, prev: cached, rt });
      } catch (e) {
        throw wrap(`plugin ${describePlugin(p)} failed (delete): `, e);
      }
    }
    this.cache.delete(list.name, rt);
  }

  async getNetworkListCachedResult(list: NetworkConfigList, rt: RuntimeConf): Promise<AnyResult | undefined> {
    return this.cache.readResult(list.name, rt, list.cniVersion);
  }

  async getNetworkListCachedConfig(
    list: NetworkConfigList,
    rt: RuntimeConf,
  ): Promise<{ config: Uint8Array | null; rt: RuntimeConf } | undefined> {
    return this.cache.readConfig(list.name, rt);
  }

  async addNetwork(net: NetworkConfig, rt: RuntimeConf): Promise<AnyResult> {
    const p = net.plugin;
    const result = await this.addOne({ name: p.name, version: p.cniVersion, plugin: p, prev: undefined, rt });
    this.cache.write(p.name, net.bytes, rt, result);
    return result;
  }

  async checkNetwork(net: NetworkConfig, rt: RuntimeConf): Promise<void> {
    const p = net.plugin;
    this.requireCheck(p.cniVersion);
    const cached = this.cachedForCheck(p.name, p.cniVersion, rt);
    await this.noResult("CHECK", { name: p.name, version: p.cniVersion, plugin: p, prev: cached, rt });
  }

  async delNetwork(net: NetworkConfig, rt: RuntimeConf): Promise<void> {
    const p = net.plugin;
    const cached = this.cachedForDel(p.name, p.cniVersion, rt);
    await this.noResult("DEL", { name: p.name, version: p.cniVersion, plugin: p, prev: cached, rt });
    this.cache.delete(p.name, rt);
  }

  private async validatePlugin(type: string, version: string): Promise<void> {
    const path = this.exec.findInPath(type, this.path);
    const want = version || "0.1.0";
    const info = await getVersionInfo(this.exec, path, {
      baseEnv: this.baseEnv,
      ...(this.timeoutMs === undefined ? {} : { timeoutMs: this.timeoutMs }),
    });
    if (!info.supportedVersions.includes(want)) {
      throw new CniError(
        ErrorCode.IncompatibleCNIVersion,
        `plugin ${type} does not support config version ${JSON.stringify(want)}`,
        `it supports ${info.supportedVersions.join(", ")}`,
      );
    }
  }

  async validateNetworkList(list: NetworkConfigList): Promise<string[]> {
    const errors: CniError[] = [];
    const caps = new Set<string>();
    for (const p of list.plugins) {
      await this.validatePlugin(p.type, list.cniVersion).catch((e: unknown) => errors.push(toCniError(e)));
      for (const [c, on] of Object.entries(p.capabilities)) if (on) caps.add(c);
    }
    const first = errors[0];
    if (first) {
      const details = [...new Set(errors.map((e) => e.details).filter((d) => d !== ""))].join("; ");
      throw new CniError(first.code, `[${errors.map((e) => e.msg).join(" ")}]`, details);
    }
    return [...caps];
  }

  async validateNetwork(net: NetworkConfig): Promise<string[]> {
    await this.validatePlugin(net.plugin.type, net.plugin.cniVersion);
    return Object.entries(net.plugin.capabilities)
      .filter(([, on]) => on)
      .map(([c]) => c);
  }

  async gcNetworkList(list: NetworkConfigList, args?: GCArgs): Promise<void> {
    if (list.disableGC) return;
    let cached: CachedAttachment[];
    try {
      cached = this.cache.attachments();
    } catch {
      return; // like the reference: an unreadable cache means nothing to collect
    }
    const valid = new Set((args?.validAttachments ?? []).map((a) => `${a.containerID}\0${a.ifname}`));
    const errors: CniError[] = [];
    for (const a of cached) {
      if (a.network !== list.name || valid.has(`${a.containerId}\0${a.ifName}`)) continue;
      const rt: RuntimeConf = {
        containerId: a.containerId,
        netns: a.netns,
        ifName: a.ifName,
        args: a.cniArgs,
        ...(a.capabilityArgs ? { capabilityArgs: a.capabilityArgs } : {}),
      };
      await this.delNetworkList(list, rt).catch((e: unknown) =>
        errors.push(wrap(`failed to delete stale attachment ${a.containerId} ${a.ifName}: `, e)),
      );
    }
    if (atLeast(list.cniVersion, "1.1.0")) {
      const inject = new Map<string, unknown>([
        ["name", list.name],
        ["cniVersion", list.cniVersion],
      ]);
      if (args) {
        const attachments = args.validAttachments.map((a) => ({ containerID: a.containerID, ifname: a.ifname }));
        inject.set("cni.dev/valid-attachments", attachments);
        inject.set("cni.dev/attachments", attachments); // the spec's earlier key (cni issue #1101)
      }
      for (const p of list.plugins) {
        try {
          const path = this.exec.findInPath(p.type, this.path);
          await execPluginWithoutResult(this.exec, this.call(path, injectConf(p, inject), { command: "GC" }));
        } catch (e) {
          errors.push(wrap(`failed to GC plugin ${p.type}: `, e));
        }
      }
    }
    const first = errors[0];
    if (first) throw new CniError(first.code, errors.map((e) => e.message).join("\n"));
  }

  async getStatusNetworkList(list: NetworkConfigList): Promise<void> {
    if (!atLeast(list.cniVersion, "1.1.0")) return;
    const inject = new Map<string, unknown>([
      ["name", list.name],
      ["cniVersion", list.cniVersion],
    ]);
    for (const p of list.plugins) {
      const path = this.exec.findInPath(p.type, this.path);
      // The first failure is returned unchanged so its code (50, 51) reaches the caller.
      await execPluginWithoutResult(this.exec, this.call(path, injectConf(p, inject), { command: "STATUS" }));
    }
  }

  async getCachedAttachments(containerId = ""): Promise<CachedAttachment[]> {
    return this.cache.attachments(containerId);
  }

  async getVersionInfo(pluginType: string): Promise<PluginInfo> {
    const path = this.exec.findInPath(pluginType, this.path);
    return getVersionInfo(this.exec, path, {
      baseEnv: this.baseEnv,
      ...(this.timeoutMs === undefined ? {} : { timeoutMs: this.timeoutMs }),
    });
  }
}

/** Compile-time check that the class implements the interface (no instance is made). */
const _runtime: CniRuntime = CniConfig.prototype;
void _runtime;
