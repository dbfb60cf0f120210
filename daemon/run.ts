/**
 * flanneld's life cycle, over injected parts (subnet manager, data plane, logger, signal):
 * config (retried every second; an unsupported Backend.Type exits 1 at once) → public IP overrides →
 * prerequisites → external interface → backend registration (which acquires the lease) → traffic
 * rules → subnet.env → ready → lease watch + backend loops + lease keeping, until SIGTERM (exit 0,
 * data plane left in place) or a failure such as a lost lease (exit 1 with the reason).
 */
import { UnsupportedBackendError, type NetworkConfig } from "./config.ts";
import type { FlannelFlags } from "./flags.ts";
import { startHealthz, type HealthServer } from "./healthz.ts";
import { formatCidr } from "../net/prefix.ts";
import { describeLease, type Lease, type LeaseAttrs, type LeaseEvent } from "./lease.ts";
import { errorMessage, type Logger } from "./log.ts";
import type { BackendNetwork, DataPlane, TrafficOptions } from "./dataplane.ts";
import type { DaemonMetrics } from "./metrics/daemon-metrics.ts";
import { startProbeResponder, type ProbeResponder } from "./probe/responder.ts";
import type { SubnetManager } from "./subnet/manager.ts";
import { writeSubnetEnv, type SubnetEnv } from "../net/subnet-env.ts";
import { onAbort, sleep } from "./time.ts";
import { WaitLog } from "./wait-log.ts";

/** Everything {@link runFlanneld} works with. */
export interface RunOptions {
  readonly flags: FlannelFlags;
  readonly log: Logger;
  readonly manager: SubnetManager;
  readonly dataPlane: DataPlane;
  /** Aborted on SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** Previous subnet.env, if any (for stale rule cleanup). */
  readonly previousEnv?: SubnetEnv;
  /** Wait between config attempts. @default 1000 */
  readonly configRetryMs?: number;
  /** Called once subnet.env is written (tests). */
  readonly onReady?: (lease: Lease) => void;
  /**
   * Called after the first lease batch (startup is done) and after every batch of
   * {@link LARGE_BATCH} events or more, once the data plane applied it. @default {@link releaseMemory}
   */
  readonly releaseMemory?: () => void;
  /**
   * Resident set size now, checked every {@link MEMORY_CHECK_MS}: when it grew by
   * {@link MEMORY_SLACK_BYTES} since the last release, memory is released again.
   * @default process.memoryUsage.rss
   */
  readonly rss?: () => number;
  /** Served on /metrics of the health port; the parts attach to it as they come up. */
  readonly metrics?: DaemonMetrics;
  /** Weft's version, told to `weft doctor` probes. */
  readonly version?: string;
}

async function waitForConfig(o: RunOptions): Promise<NetworkConfig | undefined> {
  const wait = new WaitLog(o.log, "the network config");
  while (!o.signal.aborted) {
    try {
      const config = await o.manager.getNetworkConfig(o.signal);
      wait.succeeded();
      return config;
    } catch (e) {
      if (o.signal.aborted) return undefined;
      // not retried: flanneld exits and says which types it runs
      if (e instanceof UnsupportedBackendError) throw e;
      wait.failed(e);
      await sleep(o.configRetryMs ?? 1000, o.signal);
    }
  }
  return undefined;
}

function subnetEnvOf(config: NetworkConfig, lease: Lease, mtu: number, ipMasq: boolean): SubnetEnv {
  return {
    networks: config.enableIPv4 && config.network ? [formatCidr(config.network)] : [],
    ...(config.enableIPv4 && lease.subnet ? { subnet: formatCidr(lease.subnet) } : {}),
    ipv6Networks: config.enableIPv6 && config.ipv6Network ? [formatCidr(config.ipv6Network)] : [],
    ...(config.enableIPv6 && lease.subnetV6 ? { ipv6Subnet: formatCidr(lease.subnetV6) } : {}),
    mtu,
    ipMasq,
  };
}

/** Both families' network and subnet from a previous subnet.env (stale rule cleanup). */
function previousNetworks(prev: SubnetEnv): NonNullable<TrafficOptions["previous"]> {
  return {
    ...(prev.networks[0] ? { network: prev.networks[0] } : {}),
    ...(prev.subnet ? { subnet: prev.subnet } : {}),
    ...(prev.ipv6Networks[0] ? { ipv6Network: prev.ipv6Networks[0] } : {}),
    ...(prev.ipv6Subnet ? { ipv6Subnet: prev.ipv6Subnet } : {}),
  };
}

/** Start up and run until stopped; resolves to the process exit code. */
export async function runFlanneld(o: RunOptions): Promise<number> {
  const { flags: f, log, manager, signal } = o;
  let ready = false;
  let health: HealthServer | undefined;
  let prober: ProbeResponder | undefined;
  const peers = new Map<string, Lease>();
  try {
    if (f.healthzPort > 0) {
      const metrics = o.metrics;
      health = await startHealthz(f.healthzIp, f.healthzPort, () => ready, metrics && (() => metrics.render()));
      log.info(metrics ? "serving /healthz, /readyz and /metrics" : "serving /healthz and /readyz", {
        address: `${f.healthzIp}:${health.port}`,
      });
    }
    if (manager.stats) o.metrics?.attach({ store: { kind: manager.kind, stats: manager.stats } });
    const config = await waitForConfig(o);
    if (!config) return 0;
    log.info("network config", {
      network: config.network ? formatCidr(config.network) : "",
      ipv6_network: config.ipv6Network ? formatCidr(config.ipv6Network) : "",
      backend: config.backend.type,
    });
    if (config.backendDefaulted) {
      log.info(
        'the network config has no "Backend": using vxlan (flannel would pick "udp"; write {"Type": "udp"} for it)',
      );
    }
    let publicIp = f.publicIp;
    let publicIpv6 = f.publicIpv6;
    const overrides = (await manager.nodePublicIPs?.(signal)) ?? {};
    if (overrides.v4)
      (publicIp = overrides.v4), log.info("public IP from the node-public-ip annotation", { public_ip: publicIp });
    if (overrides.v6)
      (publicIpv6 = overrides.v6),
        log.info("public IPv6 from the node-public-ipv6 annotation", { public_ipv6: publicIpv6 });
    await o.dataPlane.checkPrerequisites?.(config);
    const ext = await o.dataPlane.selectInterface({
      iface: f.iface,
      ifaceRegex: f.ifaceRegex,
      ifaceCanReach: f.ifaceCanReach,
      publicIp,
      publicIpv6,
      ipv4: config.enableIPv4,
      ipv6: config.enableIPv6,
    });
    log.info("using interface", {
      iface: ext.name,
      mtu: ext.mtu,
      address: ext.ipv4 ?? ext.ipv6 ?? "",
      public_ip: ext.publicIP ?? "",
      data_plane: o.dataPlane.description,
    });
    const backend = o.dataPlane.backend(config.backend.type);
    if (!backend)
      throw new Error(
        `the ${config.backend.type} backend is not available in this data plane (${o.dataPlane.description})`,
      );
    const previousAttrs: LeaseAttrs | undefined = await manager
      .previousAttrs?.(ext.publicIP ?? "", signal)
      .catch(() => undefined);
    const network = await backend.register({
      config,
      extIface: ext,
      acquire: (attrs) => manager.acquireLease(attrs, signal),
      ...(previousAttrs ? { previousAttrs } : {}),
      log,
      signal,
    });
    const lease = network.lease;
    log.info("lease acquired", { subnet: describeLease(lease), public_ip: lease.attrs.PublicIP });
    o.metrics?.setOwnLease(lease);
    if (network.stats) {
      const backendStats = () => network.stats?.() ?? { peers: [], repairs: new Map<string, number>() };
      o.metrics?.attach({ backend: { type: config.backend.type, stats: backendStats } });
    }
    const traffic = o.dataPlane.traffic;
    if (traffic?.stats) o.metrics?.attach({ rules: () => traffic.stats?.() ?? { resyncs: 0, repairs: 0, errors: 0 } });
    const env = subnetEnvOf(config, lease, network.mtu, f.ipMasq);
    const prev = o.previousEnv;
    await o.dataPlane.traffic?.setup(
      {
        config,
        lease,
        ipMasq: f.ipMasq,
        fullyRandom: !f.ipMasqFullyRandomDisable,
        forwardRules: f.iptablesForwardRules,
        resyncSeconds: f.iptablesResync,
        ...(prev ? { previous: previousNetworks(prev) } : {}),
      },
      signal,
    );
    writeSubnetEnv(f.subnetFile, env);
    ready = true;
    if (o.metrics) o.metrics.ready = true;
    log.info("wrote subnet.env; flanneld is ready", { path: f.subnetFile, mtu: env.mtu });
    o.onReady?.(lease);
    if (f.healthzPort > 0) prober = await startProber(o, config, lease, peers);
    return await runLoops(o, lease, network, peers);
  } catch (e) {
    if (signal.aborted) {
      log.info("stopped during startup");
      return 0;
    }
    log.error(errorMessage(e));
    return 1;
  } finally {
    await prober?.close();
    await health?.close();
    manager.close();
  }
}

/** Answer `weft doctor` probes on UDP --healthz-port; a failure to listen is logged, never fatal. */
async function startProber(
  o: RunOptions,
  config: NetworkConfig,
  lease: Lease,
  peers: ReadonlyMap<string, Lease>,
): Promise<ProbeResponder | undefined> {
  try {
    const r = await startProbeResponder({
      host: o.flags.healthzIp,
      port: o.flags.healthzPort,
      self: { lease, backend: config.backend.type, version: o.version ?? "" },
      peers: () => peers.values(),
      networks: [config.network, config.ipv6Network].filter((n) => n !== undefined),
      log: o.log,
    });
    o.log.info("answering node probes (weft doctor)", { address: `${o.flags.healthzIp}:${r.port}/udp` });
    return r;
  } catch (e) {
    o.log.warn(errorMessage(e));
    return undefined;
  }
}

/** A batch at least this large is followed by {@link RunOptions.releaseMemory}. */
export const LARGE_BATCH = 100;
/** How often the RSS is checked between batches. */
export const MEMORY_CHECK_MS = 2000;
/** RSS growth since the last release that triggers another one. */
export const MEMORY_SLACK_BYTES = 8 * 1024 * 1024;

/** Under Bun: a full garbage collection (between the pages of a large listing). No-op under Node. */
export function collectGarbage(): void {
  if (typeof Bun !== "undefined") Bun.gc(true);
}

/**
 * Under Bun: a full collection, then ask JavaScriptCore to give the freed heap back to the
 * kernel. Without it the heap stays at its high-water mark of the snapshot; the pause is short
 * next to a startup or a large batch, which is when it runs. No-op under Node.
 */
export function releaseMemory(): void {
  if (typeof Bun === "undefined") return;
  Bun.gc(true);
  Bun.shrink();
}

/**
 * Releases memory on demand and whenever the RSS grew by {@link MEMORY_SLACK_BYTES}. The periodic
 * data plane reconcile dumps every route, neighbour and FDB entry (with thousands of peers, many
 * megabytes of short-lived objects per pass); JavaScriptCore promotes them and only a full
 * collection frees them, so without this the RSS climbs far before the engine collects on its own.
 */
export function memoryKeeper(
  o: Pick<RunOptions, "releaseMemory" | "rss"> & { readonly checkMs?: number },
  signal: AbortSignal,
): { release(): void } {
  const rss = o.rss ?? (() => process.memoryUsage.rss());
  let floor = rss();
  const release = () => {
    (o.releaseMemory ?? releaseMemory)();
    floor = rss();
  };
  const timer = setInterval(() => {
    // The engine returns freed pages a little after a release: the floor follows them down.
    const now = rss();
    floor = Math.min(floor, now);
    if (now - floor >= MEMORY_SLACK_BYTES) release();
  }, o.checkMs ?? MEMORY_CHECK_MS);
  timer.unref?.();
  onAbort(signal, () => clearInterval(timer));
  return { release };
}

async function runLoops(
  o: RunOptions,
  lease: Lease,
  network: Pick<BackendNetwork, "handleEvents" | "run">,
  peers: Map<string, Lease>,
): Promise<number> {
  const inner = new AbortController();
  const unlink = onAbort(o.signal, () => inner.abort());
  let failure: { what: string; error: unknown } | undefined;
  let started = false;
  const keeper = memoryKeeper(o, inner.signal);
  const applyBatch = async (batch: readonly LeaseEvent[]) => {
    o.metrics?.leaseEvents(batch);
    for (const e of batch)
      if (e.type === "added") peers.set(describeLease(e.lease), e.lease);
      else peers.delete(describeLease(e.lease));
    await network.handleEvents(batch);
    if (started && batch.length < LARGE_BATCH) return;
    started = true;
    keeper.release();
  };
  const guard = (what: string, p: Promise<void> | undefined) =>
    (p ?? Promise.resolve()).catch((error: unknown) => {
      failure ??= { what, error };
      inner.abort();
    });
  try {
    await Promise.all([
      guard(
        "watching leases",
        o.manager.watchLeases(lease, (batch) => applyBatch(batch), inner.signal),
      ),
      guard("backend", network.run(inner.signal)),
      guard("traffic rules", o.dataPlane.traffic?.run(inner.signal)),
      guard("keeping the lease", o.manager.completeLease(lease, inner.signal)),
    ]);
  } finally {
    unlink();
  }
  if (failure) {
    o.log.error(`${failure.what} failed: ${errorMessage(failure.error)}; exiting so flanneld can be restarted`, {
      kind: (failure.error as Error).name,
    });
    return 1;
  }
  o.log.info("Exiting cleanly... (routes, rules, devices and subnet.env are left in place)");
  return 0;
}
