/** Build the subnet manager the flags ask for: Kubernetes API (--kube-subnet-mgr) or etcd. */
import type { FlannelFlags } from "../flags.ts";
import type { IpNet } from "../../net/prefix.ts";
import type { Logger } from "../log.ts";
import { EtcdClient } from "../etcd/client.ts";
import { KubeClient } from "../kube/client.ts";
import { resolveConnection } from "../kube/connection.ts";
import { normalizeAnnotationPrefix } from "./annotations.ts";
import { EtcdSubnetManager } from "./etcd-manager.ts";
import { KubeSubnetManager, resolveNodeName } from "./kube-manager.ts";
import type { SubnetManager } from "./manager.ts";

/** Options of {@link createSubnetManager}. */
export interface FactoryOptions {
  readonly flags: FlannelFlags;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
  /** Subnets of the previous subnet.env (etcd: tried first after the own public IP's lease). */
  readonly previous?: { readonly subnet?: IpNet; readonly subnetV6?: IpNet };
  readonly signal?: AbortSignal;
  /** Run between the pages of a large listing (flanneld: a full garbage collection). */
  readonly betweenPages?: () => void;
}

export async function createSubnetManager(o: FactoryOptions): Promise<SubnetManager> {
  const f = o.flags;
  if (f.kubeSubnetMgr) {
    const conn = resolveConnection({ kubeApiUrl: f.kubeApiUrl, kubeconfigFile: f.kubeconfigFile, env: o.env });
    const client = new KubeClient(conn, undefined, o.betweenPages ? { betweenPages: o.betweenPages } : {});
    const nodeName = await resolveNodeName(o.env, client, o.signal);
    const p = normalizeAnnotationPrefix(f.kubeAnnotationPrefix);
    if ("error" in p) throw new Error(p.error);
    o.log.info("using the Kubernetes API for subnet leases", {
      api: conn.server,
      credentials: conn.source,
      node: nodeName,
    });
    return new KubeSubnetManager({
      client,
      nodeName,
      netConfPath: f.netConfigPath,
      annotationPrefix: p.prefix,
      setNodeNetworkUnavailable: f.setNodeNetworkUnavailable,
      log: o.log,
    });
  }
  const endpoints = f.etcdEndpoints
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const tlsPair = f.etcdKeyfile !== "" && f.etcdCertfile !== "";
  if (!tlsPair && (f.etcdKeyfile !== "" || f.etcdCertfile !== "")) {
    o.log.warn(
      "etcd client TLS needs both --etcd-keyfile and --etcd-certfile; connecting without a client certificate",
    );
  }
  const client = new EtcdClient({
    endpoints,
    tls: {
      ...(tlsPair ? { keyFile: f.etcdKeyfile, certFile: f.etcdCertfile } : {}),
      ...(f.etcdCafile ? { caFile: f.etcdCafile } : {}),
    },
    ...(f.etcdUsername ? { username: f.etcdUsername, password: f.etcdPassword } : {}),
    ...(o.betweenPages ? { betweenPages: o.betweenPages } : {}),
  });
  o.log.info("using etcd for subnet leases", { endpoints: endpoints.join(","), prefix: f.etcdPrefix });
  return new EtcdSubnetManager({
    client,
    prefix: f.etcdPrefix,
    renewMarginMs: f.subnetLeaseRenewMargin * 60_000,
    log: o.log,
    ...(o.previous ? { previous: o.previous } : {}),
  });
}
