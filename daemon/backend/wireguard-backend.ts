// The wireguard backend as a daemon/network.ts Backend: the node's persisted key, one device per
// family (flannel-wg, flannel-wg-v6) or one for both (Mode auto/ipv4/ipv6), created before the
// lease so the lease can publish the public key, then configured with the lease's subnets. Peers
// follow lease events; a periodic pass repairs and recreates; at exit the devices are deleted,
// as flanneld does. Kernel-free (any WgOps), so unit tests drive it with a fake.
import type { ExternalInterface } from "../iface.ts";
import type { Logger } from "../log.ts";
import { errorMessage } from "../log.ts";
import type { Backend, BackendNetwork, RegisterOptions } from "../dataplane.ts";
import { Backoff, onAbort, sleep } from "../time.ts";
import { underlayMtu } from "./mtu.ts";
import type { BackendLog } from "./route-network.ts";
import { wireguardOptions, type WireguardOptions } from "./wireguard-config.ts";
import { loadOrCreateKey, wireguardKeyFile, type NodeKey } from "./wireguard-key.ts";
import { WgDeviceNetwork, type WgOps } from "./wireguard-network.ts";
import { WIREGUARD_OVERHEAD } from "./overhead.ts";
import { deviceSpecs, wireguardLeaseAttrs } from "./wireguard-plan.ts";

export interface WireguardBackendOptions {
  /** How often the full pass runs. @default 10000 */
  readonly reconcileMs?: number;
  /** The private key file. @default $WIREGUARD_KEY_FILE or /run/flannel/wgkey */
  readonly keyFile?: string;
  /** Loads (or creates) the key; tests replace it. @default loadOrCreateKey */
  readonly loadKey?: (path: string) => NodeKey;
}

function backendLog(log: Logger): BackendLog {
  return (level, msg, fields) => log[level](msg, fields ?? {});
}

/** The address families our own endpoint needs, and the errors naming what to fix. */
function checkAddresses(o: WireguardOptions, enable4: boolean, enable6: boolean, ext: ExternalInterface): void {
  const need4 = o.mode === "ipv4" || (o.mode === "separate" && enable4);
  const need6 = o.mode === "ipv6" || (o.mode === "separate" && enable6);
  if (need4 && !ext.publicIP)
    throw new Error(
      `interface ${ext.name} has no IPv4 address for the wireguard backend's endpoint: ` +
        "give an interface with one via --iface, or --public-ip",
    );
  if (need6 && !ext.publicIPv6)
    throw new Error(
      `interface ${ext.name} has no IPv6 address for the wireguard backend's endpoint: ` +
        "give an interface with one via --iface, or --public-ipv6",
    );
  if (o.mode === "auto" && !ext.publicIP && !ext.publicIPv6)
    throw new Error(`interface ${ext.name} has no address for the wireguard backend's endpoint`);
  if (o.mode === "separate" && enable4 && enable6 && o.listenPort === o.listenPortV6) {
    throw new Error(
      `network config: "Backend.ListenPort" and "Backend.ListenPortV6" are both ${o.listenPort}: ` +
        "flannel-wg and flannel-wg-v6 need different UDP ports",
    );
  }
}

export function wireguardBackend(ops: WgOps, log: Logger, bo: WireguardBackendOptions = {}): Backend {
  return {
    type: "wireguard",
    async register(o: RegisterOptions): Promise<BackendNetwork> {
      const cfg = o.config;
      const wo = wireguardOptions(cfg.backend);
      const ext = o.extIface;
      checkAddresses(wo, cfg.enableIPv4, cfg.enableIPv6, ext);
      const keyFile = bo.keyFile ?? wireguardKeyFile();
      const key = (bo.loadKey ?? loadOrCreateKey)(keyFile);
      log.info(key.created ? "generated the WireGuard private key" : "using the WireGuard private key", {
        file: keyFile,
        public_key: key.publicKey,
      });
      const base = underlayMtu(cfg.backend.mtu, ext);
      if (base.warning) log.warn(base.warning.msg, base.warning.fields);
      const mtu = base.mtu - WIREGUARD_OVERHEAD;
      const nets = deviceSpecs(wo, cfg.enableIPv4, cfg.enableIPv6).map(
        (spec) =>
          new WgDeviceNetwork({
            ops,
            spec,
            mtu,
            privateKey: key.privateKey,
            publicKey: key.publicKey,
            options: wo,
            networks: {
              ...(cfg.network ? { 4: cfg.network } : {}),
              ...(cfg.ipv6Network ? { 6: cfg.ipv6Network } : {}),
            },
            ...(ext.publicIP ? { ownV4: ext.publicIP } : {}),
            ...(ext.publicIPv6 ? { ownV6: ext.publicIPv6 } : {}),
            log: backendLog(log.with({ backend: "wireguard" })),
          }),
      );
      let closing: Promise<void> | undefined;
      const closeAll = () =>
        (closing ??= Promise.all(
          nets.map((n) =>
            n
              .close()
              .catch((e: unknown) =>
                log.warn("removing a wireguard device failed", { dev: n.name, error: errorMessage(e) }),
              ),
          ),
        ).then(() => undefined));
      const lease = await (async () => {
        try {
          for (const n of nets) await n.create();
          const attrs = wireguardLeaseAttrs({
            publicKey: key.publicKey,
            options: wo,
            enableIPv4: cfg.enableIPv4,
            enableIPv6: cfg.enableIPv6,
            publicIP: ext.publicIP,
            publicIPv6: ext.publicIPv6,
          });
          const l = await o.acquire(attrs);
          for (const n of nets) await n.start(l);
          return l;
        } catch (e) {
          await closeAll();
          throw e;
        }
      })();
      // stopped before run() starts (e.g. during the rest of start-up): the devices still go
      onAbort(o.signal, () => void closeAll());

      const backoff = new Backoff(1000, 30_000);
      let lostAt = 0;
      ops.onDeviceLost((name, why) => {
        const n = nets.find((x) => x.name === name);
        if (!n || closing) return;
        if (Date.now() - lostAt > 60_000) backoff.reset();
        lostAt = Date.now();
        const delay = backoff.next();
        log.warn("the userspace WireGuard process exited; recreating the device", {
          dev: name,
          exit: why,
          retry_in_ms: delay,
        });
        setTimeout(() => {
          if (closing) return;
          n.reconcile().catch((e: unknown) =>
            log.error("recreating the wireguard device failed (retried at the next pass)", {
              dev: name,
              error: errorMessage(e),
            }),
          );
        }, delay);
      });
      for (const n of nets)
        log.info("data plane ready", {
          backend: "wireguard",
          device: n.name,
          implementation: n.implementation,
          mtu,
          mode: wo.mode,
        });

      // what the periodic passes rewrote, for /metrics (a recreated device replays every peer: counted once)
      const repairs = new Map<string, number>();
      const count = (kind: string, n: number) => {
        if (n > 0) repairs.set(kind, (repairs.get(kind) ?? 0) + n);
      };
      return {
        lease,
        mtu,
        async handleEvents(batch) {
          await Promise.all(
            nets.map((n) =>
              n.handle(batch).catch((e: unknown) =>
                log.warn("applying lease events failed (the next pass retries)", {
                  dev: n.name,
                  error: errorMessage(e),
                }),
              ),
            ),
          );
        },
        async run(signal) {
          const every = bo.reconcileMs ?? 10_000;
          while (!signal.aborted) {
            await sleep(every, signal);
            if (signal.aborted || closing) break;
            for (const n of nets) {
              await n.reconcile().then(
                (r) => {
                  if (r.recreated) count("device_recreated", 1);
                  else count("peer_rewritten", r.changes);
                },
                (e: unknown) => log.error("wireguard reconcile failed", { dev: n.name, error: errorMessage(e) }),
              );
            }
          }
          await closeAll();
        },
        stats: () => ({
          peers: nets.map((n) => ({ family: n.family, count: n.leaseCount })),
          repairs: new Map(repairs),
        }),
      };
    },
  };
}
