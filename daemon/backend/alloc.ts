// The alloc backend: subnet leases and subnet.env only, no data plane (flannel's "alloc"). Nothing
// is created or routed; pods on different nodes reach each other only if something else routes
// the subnets. What it publishes is flannel's: PublicIP and nothing else (no BackendType).
import type { LeaseAttrs } from "../lease.ts";
import { describeLease } from "../lease.ts";
import type { Logger } from "../log.ts";
import type { Backend, BackendNetwork, RegisterOptions } from "../dataplane.ts";
import { sleep } from "../time.ts";

export function allocBackend(log: Logger): Backend {
  return {
    type: "alloc",
    async register(o: RegisterOptions): Promise<BackendNetwork> {
      const attrs: LeaseAttrs = { PublicIP: o.extIface.publicIP ?? "0.0.0.0" };
      const lease = await o.acquire(attrs);
      log.info("alloc backend: subnet leased, no data plane programmed", { subnet: describeLease(lease) });
      return {
        lease,
        // the external interface's MTU, as flannel (Backend.MTU is not read)
        mtu: o.extIface.mtu,
        async handleEvents(batch) {
          for (const e of batch)
            log.debug(`peer ${e.type}`, { subnet: describeLease(e.lease), public_ip: e.lease.attrs.PublicIP });
        },
        async run(signal) {
          while (!signal.aborted) await sleep(2 ** 31 - 1, signal);
        },
      };
    },
  };
}
