/**
 * A data plane that programs nothing (leases and subnet.env only), for demos and tests; it says so
 * in the log.
 */
import { encapOverhead } from "./backend/overhead.ts";
import type { BackendType } from "./config.ts";
import type { Backend, BackendNetwork, DataPlane, RegisterOptions } from "./dataplane.ts";
import { selectInterface } from "./iface.ts";
import { describeLease, type LeaseAttrs } from "./lease.ts";
import type { Logger } from "./log.ts";
import { sleep } from "./time.ts";

/**
 * A data plane that programs nothing: it publishes the backend type (and for vxlan a VNI with no
 * MAC), computes the MTU like the real backends (underlay minus each one's encapsulation) and logs
 * each peer event.
 */
export function controlPlaneOnly(log: Logger): DataPlane {
  const backend = (type: BackendType): Backend => ({
    type,
    async register(o: RegisterOptions): Promise<BackendNetwork> {
      log.warn("control-plane-only data plane: no device, routes or rules are programmed on this node", {
        backend: type,
      });
      const attrs: LeaseAttrs = {
        PublicIP: o.extIface.publicIP ?? "0.0.0.0",
        ...(o.extIface.publicIPv6 && o.config.enableIPv6 ? { PublicIPv6: o.extIface.publicIPv6 } : {}),
        BackendType: type,
        ...(type === "vxlan" ? { BackendData: { VNI: o.config.backend.vni } } : {}),
      };
      const lease = await o.acquire(attrs);
      // ipip reads no Backend.MTU (as flannel); the others start from it when set
      const underlay = (type !== "ipip" && o.config.backend.mtu) || o.extIface.mtu;
      return {
        lease,
        mtu: underlay - encapOverhead(type, o.config.enableIPv6),
        async handleEvents(batch) {
          for (const e of batch)
            log.info(`peer ${e.type}`, {
              subnet: describeLease(e.lease),
              public_ip: e.lease.attrs.PublicIP,
              backend: e.lease.attrs.BackendType,
            });
        },
        async run(signal) {
          while (!signal.aborted) await sleep(2 ** 31 - 1, signal);
        },
      };
    },
  });
  return {
    description: "control-plane only (nothing programmed)",
    async selectInterface(o) {
      return selectInterface(o);
    },
    backend,
  };
}
