/**
 * One implementation's side of a bridge fuzz scenario: its own node netns (the plugin runs there
 * through `ip netns exec`), one pod netns per container, its own IPAM dataDir and runtime cache of
 * ADD results (sent back as CHECK's prevResult). After every step it snapshots the node and pods
 * with iproute2/iptables/nft (independent oracles) so the two sides can be compared.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { callPlugin, type PluginOutcome } from "../../../../conformance/exec.ts";
import { snapshotFiles } from "../../../../netns-fixtures/topology/cni.ts";
import { ipJson, run, runIn, waitFor } from "../../../../netns-fixtures/topology/sh.ts";
import { isObject } from "../../../shared/conf.ts";
import { NETWORK, type Scenario, type Step } from "./scenarios.ts";

export interface Outcome extends PluginOutcome {
  /** Normalised state of the node and every pod netns after the step. */
  readonly state: Record<string, unknown>;
}

const SEP = "@@@@";
/** What the snapshot of one netns prints, in order, separated by SEP. */
const SNAPSHOT_SCRIPT = [
  "ip -d -j link show",
  "ip -j addr show",
  "ip -j -4 route show table main",
  "ip -j -6 route show table main",
  "iptables-save -t nat 2>/dev/null",
  "ip6tables-save -t nat 2>/dev/null",
  "nft list table bridge nat 2>/dev/null",
  "for f in /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding " +
    "/proc/sys/net/ipv6/conf/*/accept_ra /proc/sys/net/ipv6/conf/*/accept_dad " +
    '/proc/sys/net/ipv6/conf/*/disable_ipv6 /proc/sys/net/ipv4/conf/*/arp_notify; do echo "$f=$(cat $f)"; done',
].join(`; echo ${SEP}; `);

type Json = Record<string, unknown>;
const arr = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : []);

/** Side-specific text made comparable: veth names, MACs, link-local addresses, netns names, paths. */
export function normaliseText(text: string, side: SideNames): string {
  return (
    text
      .split(side.nodePrefix)
      .join("@S")
      .split(side.pluginDir)
      .join("@CNI_PATH")
      .split(side.dataDir)
      .join("@IPAM")
      .replace(/veth[0-9a-f]{8}/g, "veth*")
      // random MACs; a 0a:58:0a:f4:... MAC comes from the scenario (CNI_ARGS MAC, the pinned bridge MAC) and
      // is compared as is (a random MAC shares those four bytes about once in 2^30)
      .replace(/\b(?!0a:58:0a:f4:)([0-9a-f]{2}:){5}[0-9a-f]{2}\b/gi, "@MAC")
      .replace(/fe80::[0-9a-f:]+/g, "fe80::*")
  );
}

export interface SideNames {
  /** "<run prefix>-o<scenario>" or "-r<scenario>": node is "<nodePrefix>", pods "<nodePrefix>p<k>". */
  readonly nodePrefix: string;
  readonly pluginDir: string;
  readonly dataDir: string;
}

function linkState(l: Json, veths: Map<number, string>): Json {
  const info = isObject(l["linkinfo"]) ? l["linkinfo"] : {};
  const slave = isObject(info["info_slave_data"]) ? info["info_slave_data"] : {};
  const name = String(l["ifname"]);
  // a bridge's carrier follows its ports asynchronously (linkwatch): its ports' own flags say it
  const carrier = info["info_kind"] === "bridge" ? ["NO-CARRIER", "LOWER_UP"] : [];
  const out: Json = {
    name: veths.get(Number(l["ifindex"])) ?? name,
    kind: info["info_kind"] ?? "",
    mtu: l["mtu"],
    flags: Array.isArray(l["flags"]) ? l["flags"].filter((f) => !carrier.includes(String(f))) : l["flags"],
    promiscuity: l["promiscuity"],
    master: l["master"] ?? "",
  };
  if (info["info_slave_kind"] === "bridge")
    Object.assign(out, { hairpin: slave["hairpin"], isolated: slave["isolated"] });
  return out;
}

function parseNetns(text: string, names: SideNames): Json {
  const parts = text.split(`${SEP}\n`);
  const js = (i: number): Json[] => arr(JSON.parse(parts[i]?.trim() || "[]") as unknown);
  // host veths get a name from their peer ("veth>pod1/eth0"), so pairs compare across sides
  const veths = new Map<number, string>();
  const links = js(0);
  for (const l of links)
    if (/^veth[0-9a-f]{8}$/.test(String(l["ifname"])))
      veths.set(Number(l["ifindex"]), `veth#${String(l["link_index"] ?? "?")}`);
  const addrs = js(1).map((l) => ({
    name: veths.get(Number(l["ifindex"])) ?? l["ifname"],
    addrs: arr(l["addr_info"]).map(
      (a) =>
        `${String(a["local"])}/${String(a["prefixlen"])}${a["scope"] === "global" ? "" : ` ${String(a["scope"])}`}`,
    ),
  }));
  const routes = [...js(2), ...js(3)].map((r) => {
    const { dev, flags, ...rest } = r;
    const settled = Array.isArray(flags) ? flags.filter((f) => f !== "linkdown") : flags;
    return { ...rest, flags: settled, dev: typeof dev === "string" && /^veth[0-9a-f]{8}$/.test(dev) ? "veth" : dev };
  });
  const text4 = (i: number): string =>
    (parts[i] ?? "")
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("#"))
      .map((l) => l.replace(/\[\d+:\d+\]/, "").replace(/handle \d+/g, "handle N"))
      .join("\n");
  const out = normaliseJson(
    {
      links: links.map((l) => linkState(l, veths)).sort(byJson),
      addrs: addrs.sort(byJson),
      routes: routes.sort(byJson),
      nat4: text4(4),
      nat6: text4(5),
      bridgeNat: text4(6),
      sysctl: text4(7),
    },
    names,
  ) as Json & { sysctl: string };
  // host veth names are random: their sysctl lines sort only once normalised
  return { ...out, sysctl: out.sysctl.split("\n").sort().join("\n") };
}

const byJson = (a: unknown, b: unknown): number => JSON.stringify(a).localeCompare(JSON.stringify(b));

export function normaliseJson(v: unknown, names: SideNames): unknown {
  return JSON.parse(normaliseText(JSON.stringify(v), names)) as unknown;
}

export class Side {
  readonly names: SideNames;
  readonly node: string;
  readonly #cache = new Map<string, unknown>();
  /** The ADD result of an attachment deleted since (CHECK prev "stale"). */
  readonly #stale = new Map<string, unknown>();
  readonly #gone = new Set<number>();

  constructor(
    readonly label: "ours" | "ref",
    readonly sc: Scenario,
    opts: { readonly runPrefix: string; readonly pluginDir: string; readonly dataDir: string },
  ) {
    this.node = `${opts.runPrefix}-${label === "ours" ? "o" : "r"}${sc.index}`;
    this.names = { nodePrefix: this.node, pluginDir: opts.pluginDir, dataDir: opts.dataDir };
  }

  /** Whether the runtime has deleted pod netns k (GONE). */
  isGone(k: number): boolean {
    return this.#gone.has(k);
  }

  pod(k: number): string {
    return `${this.node}p${k}`;
  }

  /** Every netns this side may have created. */
  allNetns(): string[] {
    return [this.node, ...Array.from({ length: this.sc.pods }, (_, k) => this.pod(k))];
  }

  async setup(): Promise<void> {
    mkdirSync(this.names.dataDir, { recursive: true });
    for (const ns of this.allNetns()) {
      await run("ip", ["netns", "add", ns]);
      await run("ip", ["-n", ns, "link", "set", "lo", "up"]);
    }
  }

  async teardown(): Promise<void> {
    for (const ns of this.allNetns()) await run("ip", ["netns", "del", ns], { allowFail: true });
  }

  /** The stdin config of a step, with this side's names filled in. */
  config(step: Step): Record<string, unknown> {
    const raw = JSON.stringify(this.sc.configs[step.phase] ?? {})
      .split("@P")
      .join(this.node.slice(0, this.node.indexOf("-")))
      .split("@IPAM")
      .join(this.names.dataDir);
    const conf = JSON.parse(raw) as Record<string, unknown>;
    if (step.cmd === "CHECK" && step.prev !== undefined && step.prev !== "none") {
      const prev = (step.prev === "current" ? this.#cache : this.#stale).get(key(step));
      if (prev !== undefined) conf["prevResult"] = prev;
    }
    return conf;
  }

  async run(step: Step): Promise<Outcome> {
    if (step.cmd === "TAMPER") {
      await run("ip", ["-n", this.pod(step.pod), "-4", "route", "del", "default"], { allowFail: true });
      return this.snapshot({ code: 0, stdout: "", stderr: "", json: undefined });
    }
    if (step.cmd === "GONE")
      return this.#gone.has(step.pod)
        ? this.snapshot({ code: 0, stdout: "", stderr: "", json: undefined })
        : this.#killPod(step.pod);
    const r = await callPlugin({
      plugin: join(this.names.pluginDir, "bridge"),
      command: step.cmd,
      conf: this.config(step),
      node: this.node,
      netns: `/run/netns/${this.pod(step.pod)}`,
      ifName: step.ifName,
      containerID: `cid${step.pod}`,
      path: this.names.pluginDir,
      ...(step.cniArgs !== undefined ? { args: step.cniArgs } : {}),
    });
    if (r.code === 0 && step.cmd === "ADD") this.#cache.set(key(step), r.json);
    await this.pinBridgeMac(step, r.code === 0 && step.cmd === "ADD");
    // a runtime forgets the attachment on DEL (a failed DEL is retried with the same config)
    if (step.cmd === "DEL" && this.#cache.has(key(step))) {
      this.#stale.set(key(step), this.#cache.get(key(step)));
      this.#cache.delete(key(step));
    }
    return this.snapshot(r);
  }

  /**
   * Bridge MACs the plugins leave to chance, pinned as an operator would. Without isGateway
   * neither plugin pins it, so it follows the lowest (random) port MAC and a later CHECK fails or
   * passes by chance on either side: pinned after a successful ADD. A bridge whose last port left
   * before its MAC was pinned has MAC 00:00:00:00:00:00, which the reference later fails to pin
   * (see the test's header): given a fixed MAC after every step.
   */
  async pinBridgeMac(step: Step, added: boolean): Promise<void> {
    const conf = this.config(step);
    const pin = added && conf["isGateway"] !== true && conf["isDefaultGateway"] !== true;
    const script = [
      'f=/sys/class/net/$1/address; [ -e "$f" ] || exit 0; m=$(cat "$f")',
      'if [ "$m" = 00:00:00:00:00:00 ]; then ip link set dev "$1" address 0a:58:0a:f4:ff:fe',
      'elif [ "$2" = pin ]; then ip link set dev "$1" address "$m"; fi',
    ].join("\n");
    await runIn(this.node, "sh", ["-c", script, "pin", String(conf["bridge"]), pin ? "pin" : "keep"]);
  }

  /** Delete a pod netns as a runtime would; wait until the kernel has removed its veths' host ends. */
  async #killPod(k: number): Promise<Outcome> {
    const ns = this.pod(k);
    const links = await ipJson<Json[]>(ns, ["-d", "link", "show"]);
    const peers = links
      .filter((l) => isObject(l["linkinfo"]) && l["linkinfo"]["info_kind"] === "veth")
      .map((l) => Number(l["link_index"]));
    await run("ip", ["netns", "del", ns]);
    this.#gone.add(k);
    await waitFor(`host veths of ${ns} to disappear`, 10_000, async () => {
      const host = await ipJson<Json[]>(this.node, ["link", "show"]);
      return !host.some((l) => peers.includes(Number(l["ifindex"])));
    });
    await this.pinBridgeMac({ cmd: "GONE", pod: k, ifName: "", phase: 0 }, false);
    return this.snapshot({ code: 0, stdout: "", stderr: "", json: undefined });
  }

  /** The step's outcome with the state of every netns of this side and the IPAM files. */
  async snapshot(r: PluginOutcome): Promise<Outcome> {
    const state: Record<string, unknown> = {};
    for (const ns of this.allNetns()) {
      const k = ns === this.node ? "node" : `pod${ns.slice(this.node.length + 1)}`;
      if (ns !== this.node && this.#gone.has(Number(ns.slice(this.node.length + 1)))) continue;
      const out = await runIn(ns, "sh", ["-c", SNAPSHOT_SCRIPT], { allowFail: true });
      state[k] = parseNetns(out.stdout, this.names);
    }
    state["ipam"] = normaliseJson(snapshotFiles(join(this.names.dataDir, NETWORK)), this.names);
    return { ...r, state };
  }

  /** Bring this side in line after an accepted difference: run `cmd` inside a netns of this side. */
  async fix(ns: string, cmd: string, args: readonly string[]): Promise<void> {
    await runIn(ns, cmd, args, { allowFail: true });
  }
}

const key = (s: Step): string => `${s.pod}/${s.ifName}`;
