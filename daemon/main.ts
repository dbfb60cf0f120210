/**
 * flanneld role of the weft binary: flags → subnet manager (etcd or Kubernetes API) → data plane →
 * {@link runFlanneld}. Exit codes: 0 clean stop (SIGINT/SIGTERM), 1 failure, 2 bad flags.
 */
import type { DefinitionLoader } from "../libcni/skel/definition.ts";
import { FlagError, cniSocketPath, helpText, parseFlags, type FlannelFlags } from "./flags.ts";
import { parseCidr, type IpNet } from "../net/prefix.ts";
import { describeLease, type Lease } from "./lease.ts";
import { createLogger, errorMessage, type Logger } from "./log.ts";
import { controlPlaneOnly } from "./control-plane-only.ts";
import type { DataPlane } from "./dataplane.ts";
import { collectGarbage, releaseMemory, runFlanneld } from "./run.ts";
import { createSubnetManager } from "./subnet/factory.ts";
import { readSubnetEnv, SubnetEnvError, type SubnetEnv } from "../net/subnet-env.ts";
import type { CallStats } from "./cni-server/calls.ts";
import { DEFAULT_IPAM_DATA_DIR, type IpamView } from "./ipam-view.ts";
import { DaemonMetrics } from "./metrics/daemon-metrics.ts";

function readPrevious(path: string, log: Logger): SubnetEnv | undefined {
  try {
    return readSubnetEnv(path);
  } catch (e) {
    if (!(e instanceof SubnetEnvError && e.missingFile))
      log.warn("ignoring the previous subnet.env", { path, error: errorMessage(e) });
    return undefined;
  }
}

/**
 * The data plane WEFT_DATAPLANE asks for: "kernel" (default: the netlink vxlan/host-gw backends and
 * iptables/nftables rules, imported here lazily because they pull in linux/'s bun:ffi) or "none".
 */
async function chooseDataPlane(env: NodeJS.ProcessEnv, log: Logger): Promise<DataPlane> {
  const want = env["WEFT_DATAPLANE"] ?? "kernel";
  if (want === "none") return controlPlaneOnly(log);
  if (want === "kernel") return (await import("./backend/index.ts")).kernelDataPlane(log);
  throw new Error(`WEFT_DATAPLANE=${want} is not known: use "kernel" or "none"`);
}

function previousSubnets(prev: SubnetEnv | undefined): { subnet?: IpNet; subnetV6?: IpNet } | undefined {
  if (!prev) return undefined;
  const s = prev.subnet ? parseCidr(prev.subnet) : undefined;
  const s6 = prev.ipv6Subnet ? parseCidr(prev.ipv6Subnet) : undefined;
  return { ...(s ? { subnet: s } : {}), ...(s6 ? { subnetV6: s6 } : {}) };
}

/** What the composition root gives the daemon. */
export interface DaemonContext {
  /** Weft's version, printed by --version and logged at start. */
  readonly version: string;
  /** The flannel CNI plugin, which the CNI server runs for the calls the flannel exec relays. */
  readonly flannelPlugin?: DefinitionLoader;
  /** host-local's data directory as /metrics reads it (pool size and use). */
  readonly ipam?: IpamView;
}

/** Start the CNI server when it is on and the plugin is there; a failure is logged, never fatal. */
async function startCniServer(
  flags: FlannelFlags,
  ctx: DaemonContext,
  log: Logger,
): Promise<CniServerHandle | undefined> {
  const socketPath = cniSocketPath(flags);
  if (socketPath === undefined || ctx.flannelPlugin === undefined) return undefined;
  try {
    const { CniServer } = await import("./cni-server/server.ts");
    return await CniServer.start({ socketPath, plugin: ctx.flannelPlugin, log, releaseMemory });
  } catch (e) {
    log.error("the CNI server did not start: each flannel exec runs its call itself", { error: errorMessage(e) });
    return undefined;
  }
}

interface CniServerHandle {
  readonly stats: CallStats;
  stop(): Promise<void>;
}

/** The /metrics of this daemon; IPAM gauges read WEFT_IPAM_DATA_DIR (default host-local's data dir). */
function daemonMetrics(ctx: DaemonContext, env: NodeJS.ProcessEnv): DaemonMetrics {
  const dataDir = env["WEFT_IPAM_DATA_DIR"] || DEFAULT_IPAM_DATA_DIR;
  return new DaemonMetrics({ version: ctx.version, ...(ctx.ipam ? { ipam: { view: ctx.ipam, dataDir } } : {}) });
}

/** Run flanneld with `argv` (arguments after the program name); resolves to the exit code. */
export async function main(argv: readonly string[], ctx: DaemonContext): Promise<number> {
  let flags: FlannelFlags;
  try {
    flags = parseFlags(argv, process.env);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    process.stderr.write(`flanneld: ${e.message}\n`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(helpText());
    return 0;
  }
  if (flags.version) {
    process.stdout.write(`${ctx.version}\n`);
    return 0;
  }
  const log = createLogger({ verbosity: flags.v });
  log.info("starting flanneld", { version: ctx.version, mode: flags.kubeSubnetMgr ? "kube" : "etcd" });
  if (process.env["EVENT_QUEUE_DEPTH"] !== undefined)
    log.info("EVENT_QUEUE_DEPTH is ignored: node events are applied as they come, there is no queue to size", {
      value: process.env["EVENT_QUEUE_DEPTH"],
    });
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    log.info(`received ${sig}, shutting down`);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    ac.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let cniStarted: Promise<void> | undefined;
  let cni: CniServerHandle | undefined;
  try {
    const metrics = daemonMetrics(ctx, process.env);
    const previousEnv = readPrevious(flags.subnetFile, log);
    const previous = previousSubnets(previousEnv);
    const dataPlane = await chooseDataPlane(process.env, log);
    const manager = await createSubnetManager({
      flags,
      env: process.env,
      log,
      signal: ac.signal,
      betweenPages: collectGarbage,
      ...(previous ? { previous } : {}),
    });
    // Once subnet.env is written: the CNI server, then (under systemd, Type=notify) READY=1; libc
    // via linux/, loaded only then.
    const onReady = (lease: Lease) => {
      if (cniStarted) return;
      cniStarted = startCniServer(flags, ctx, log).then((server) => {
        cni = server;
        if (server) metrics.attach({ cni: () => server.stats });
        if (!process.env["NOTIFY_SOCKET"]) return;
        void import("../linux/sdnotify.ts")
          .then((m) => m.sdNotify(`READY=1\nSTATUS=lease ${describeLease(lease)}`))
          .catch((e: unknown) => log.warn("sd_notify failed", { error: errorMessage(e) }));
      });
    };
    return await runFlanneld({
      flags,
      log,
      manager,
      dataPlane,
      signal: ac.signal,
      onReady,
      metrics,
      version: ctx.version,
      ...(previousEnv ? { previousEnv } : {}),
    });
  } catch (e) {
    if (ac.signal.aborted) return 0;
    log.error(errorMessage(e));
    return 1;
  } finally {
    await cniStarted;
    await cni?.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
