// The kernel data plane of flanneld: netlink vxlan / host-gw / ipip backends (RouteNetwork over
// KernelNetOps), alloc and extension, the wireguard backend (KernelWgOps: kernel WireGuard or
// wireguard-go), and iptables / nftables rules (TrafficManager), behind daemon/dataplane.ts's
// DataPlane. Imported lazily by the daemon: it pulls in linux/ (bun:ffi).
import { existsSync } from "node:fs";
import { openNetlink } from "../../linux/netlink/open.ts";
import type { BackendType, NetworkConfig } from "../config.ts";
import { selectInterface } from "../iface.ts";
import type { Logger } from "../log.ts";
import type { Backend, DataPlane, TrafficOptions, TrafficRules } from "../dataplane.ts";
import { sleep } from "../time.ts";
import { TrafficManager, trafficFamilies } from "../rules/traffic.ts";
import { execaRunner } from "../../linux/command.ts";
import {
  detectIptablesMode,
  parseIptablesMode,
  useIptablesMode,
  type IptablesMode,
} from "../../linux/iptables-mode.ts";
import { KernelNetOps } from "./kernel-netops.ts";
import { routeBackend } from "./route-backend.ts";
import { allocBackend } from "./alloc.ts";
import { extensionBackend } from "./extension.ts";
import { openWireguardGenl } from "../../linux/wireguard/open.ts";
import { KernelWgOps } from "./kernel-wgops.ts";
import { wireguardBackend } from "./wireguard-backend.ts";
import { KernelUdp } from "./udp/kernel-udp.ts";
import { udpBackend } from "./udp/udp-backend.ts";

/** How often the full reconcile runs (repairs, stale routes, device recreation). */
// 10 s, the cadence of flanneld's host-gw route check: a full pass dumps every route, neighbour and
// FDB entry, which with thousands of peers makes a lot of short-lived garbage, so it should not run
// more often.
const RECONCILE_MS = Number(process.env["WEFT_RECONCILE_MS"] ?? 10_000);

/**
 * The node's iptables mode, once per process: WEFT_IPTABLES_MODE (legacy, nft; default auto) or
 * detected (linux/iptables-mode.ts), logged, and made the mode of the whole process so the bridge
 * masquerade the CNI server runs uses it too.
 */
function iptablesModeOnce(log: Logger): () => Promise<IptablesMode> {
  let mode: Promise<IptablesMode> | undefined;
  return () =>
    (mode ??= (async () => {
      const forced = parseIptablesMode(process.env["WEFT_IPTABLES_MODE"] ?? "auto", "WEFT_IPTABLES_MODE");
      const choice =
        forced === "auto" ? await detectIptablesMode(execaRunner) : { mode: forced, reason: "WEFT_IPTABLES_MODE" };
      useIptablesMode(choice.mode);
      log.info("iptables mode", { mode: choice.mode, reason: choice.reason });
      return choice.mode;
    })());
}

function trafficRules(log: Logger, iptablesMode: () => Promise<IptablesMode>): TrafficRules {
  let tm: TrafficManager | undefined;
  let resyncMs = 5000;
  const stats = { resyncs: 0, repairs: 0, errors: 0 };
  return {
    async setup(o: TrafficOptions): Promise<void> {
      const { families, previous } = trafficFamilies(o);
      if (families.length === 0) return;
      resyncMs = Math.max(1, o.resyncSeconds) * 1000;
      tm = new TrafficManager(
        execaRunner,
        {
          mode: o.config.enableNFTables ? "nftables" : "iptables",
          iptablesMode: await iptablesMode(),
          families,
          masquerade: o.ipMasq,
          forward: o.forwardRules,
          fullyRandom: o.fullyRandom,
        },
        (msg, fields) => log.info(msg, fields as Record<string, string>),
      );
      await tm.init(previous);
      log.info("installed traffic rules", {
        mode: o.config.enableNFTables ? "nftables" : `iptables (${await iptablesMode()})`,
        families: families.map((f) => `IPv${f.family}`).join(","),
        masquerade: o.ipMasq,
        forward: o.forwardRules,
      });
    },
    async run(signal: AbortSignal): Promise<void> {
      while (!signal.aborted) {
        await sleep(resyncMs, signal);
        if (signal.aborted || !tm) break;
        stats.resyncs++;
        await tm.resync().then(
          (repaired) => void (stats.repairs += repaired),
          (e: unknown) => {
            stats.errors++;
            log.warn("rule resync failed", { error: e instanceof Error ? e.message : String(e) });
          },
        );
      }
    },
    stats: () => ({ ...stats }),
  };
}

export async function kernelDataPlane(log: Logger): Promise<DataPlane> {
  const nl = openNetlink();
  const ops = new KernelNetOps(nl);
  const o = { reconcileMs: RECONCILE_MS };
  const iptablesMode = iptablesModeOnce(log);
  // one entry per type of config.ts SUPPORTED_BACKENDS
  const backends: Partial<Record<BackendType, Backend>> = {
    vxlan: routeBackend("vxlan", ops, log, o),
    "host-gw": routeBackend("host-gw", ops, log, o),
    ipip: routeBackend("ipip", ops, log, o),
    alloc: allocBackend(log),
    extension: extensionBackend(log),
    wireguard: wireguardBackend(new KernelWgOps(nl, ops, () => openWireguardGenl(), log), log, {
      reconcileMs: RECONCILE_MS,
    }),
    udp: udpBackend(new KernelUdp(nl), log, o),
  };
  return {
    description: "kernel (netlink)",
    async checkPrerequisites(config: NetworkConfig): Promise<void> {
      await iptablesMode();
      if (config.enableNFTables) return;
      if (!existsSync("/proc/sys/net/bridge/bridge-nf-call-iptables")) {
        log.warn(
          "br_netfilter is not loaded: traffic between pods on one bridge bypasses " +
            "iptables (Service VIPs to local pods may fail); fix with `modprobe br_netfilter`",
        );
      }
    },
    async selectInterface(o) {
      return selectInterface(o);
    },
    backend: (t) => backends[t],
    traffic: trafficRules(log, iptablesMode),
  };
}
