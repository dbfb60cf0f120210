/**
 * The store as the doctor reads it, through flanneld's own subnet manager factory: the same flags,
 * TLS, credentials and node name resolution as the daemon, read-only (config, every lease, this
 * node's podCIDR in kube mode). Nothing here loads linux/: unit-tested against real etcd and the
 * stub API server.
 */
import type { FlannelFlags } from "../flags.ts";
import { createLogger, errorMessage } from "../log.ts";
import { createSubnetManager } from "../subnet/factory.ts";
import type { StoreView } from "./context.ts";

export async function openStore(
  flags: FlannelFlags,
  env: NodeJS.ProcessEnv,
): Promise<{ store: StoreView } | { error: string }> {
  const quiet = createLogger({ write: () => undefined });
  try {
    const m = await createSubnetManager({ flags, env, log: quiet, signal: AbortSignal.timeout(10_000) });
    const kind = m.kind === "kube" ? "kube" : "etcd";
    const where = kind === "kube" ? "the Kubernetes API" : flags.etcdEndpoints;
    const listLeases = m.listLeases?.bind(m);
    const nodeLease = m.nodeLease?.bind(m);
    const store: StoreView = {
      kind,
      where,
      config: (signal) => m.getNetworkConfig(signal),
      leases: (signal) => (listLeases ? listLeases(signal) : Promise.reject(new Error("cannot list leases"))),
      ...(nodeLease ? { ownNode: (signal: AbortSignal) => nodeLease(signal) } : {}),
      close: () => m.close(),
    };
    return { store };
  } catch (e) {
    return { error: errorMessage(e) };
  }
}
