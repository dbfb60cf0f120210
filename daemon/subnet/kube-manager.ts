/**
 * Subnet leases from the Kubernetes API (--kube-subnet-mgr), compatible with flannel: this node's
 * subnet is its spec.podCIDR(s); what it publishes goes into the flannel node annotations (PATCH of
 * nodes/<name>/status); peers are the nodes annotated `kube-subnet-manager: "true"`. A node update
 * is reported only when its backend type/data, public IP or pod CIDRs changed, so periodic
 * resyncs and heartbeats produce no events. WATCH resumes from the last resourceVersion; 410 Gone
 * relists and reports the difference.
 */
import { readFileSync } from "node:fs";
import { parseNetworkConfig, type NetworkConfig } from "../config.ts";
import { containsNet, formatCidr, maskNet, parseCidr, parseIp, type IpNet } from "../../net/prefix.ts";
import { describeLease, sameAttrs, sameSubnets, type Lease, type LeaseAttrs, type LeaseEvent } from "../lease.ts";
import { errorMessage, type Logger } from "../log.ts";
import { Backoff, sleep } from "../time.ts";
import { WaitLog } from "../wait-log.ts";
import { KubeApiError, type KubeClient, type KubeNode } from "../kube/client.ts";
import { annotationNames, type AnnotationNames } from "./annotations.ts";
import { ConfigNotFoundError, type LeaseEventHandler, type StoreStats, type SubnetManager } from "./manager.ts";

/** Options of {@link KubeSubnetManager}. */
export interface KubeManagerOptions {
  readonly client: KubeClient;
  readonly nodeName: string;
  /** --net-config-path. */
  readonly netConfPath: string;
  /** Normalized annotation prefix (see normalizeAnnotationPrefix). */
  readonly annotationPrefix: string;
  /** --set-node-network-unavailable. @default true */
  readonly setNodeNetworkUnavailable?: boolean;
  readonly log: Logger;
  /** Poll period while waiting for the own node / retrying a patch. @default 3000 */
  readonly pollMs?: number;
  /** Give up waiting for the own node / patching after this long. @default 30000 */
  readonly waitMs?: number;
}

/** NODE_NAME, else the node of POD_NAMESPACE/POD_NAME; the error says which variables to set. */
export async function resolveNodeName(
  env: Readonly<Record<string, string | undefined>>,
  client: KubeClient,
  signal?: AbortSignal,
): Promise<string> {
  const n = env["NODE_NAME"];
  if (n) return n;
  const pod = env["POD_NAME"];
  const ns = env["POD_NAMESPACE"];
  if (!pod || !ns) {
    throw new Error(
      "cannot tell which node this is: set NODE_NAME (the kube-flannel " +
        "DaemonSet sets it from spec.nodeName), or POD_NAME and POD_NAMESPACE",
    );
  }
  return client.getPodNodeName(ns, pod, signal);
}

export class KubeSubnetManager implements SubnetManager {
  readonly kind = "kube";
  readonly stats: StoreStats = { errors: 0, reconnects: 0 };
  private readonly ann: AnnotationNames;
  private readonly log: Logger;
  private config: NetworkConfig | undefined;

  constructor(private readonly o: KubeManagerOptions) {
    this.ann = annotationNames(o.annotationPrefix);
    this.log = o.log.with({ component: "kube-subnet", node: o.nodeName });
  }

  close(): void {
    this.o.client.close();
  }

  async getNetworkConfig(_signal: AbortSignal): Promise<NetworkConfig> {
    let text: string;
    try {
      text = readFileSync(this.o.netConfPath, "utf8");
    } catch (e) {
      throw new ConfigNotFoundError(
        `cannot read ${this.o.netConfPath} (${errorMessage(e)}): mount the kube-flannel-cfg ` +
          "ConfigMap (key net-conf.json) at /etc/kube-flannel/ or point --net-config-path at the file",
      );
    }
    this.config = parseNetworkConfig(text, this.o.netConfPath);
    return this.config;
  }

  /**
   * GET the own node, waiting up to waitMs while it does not exist yet, and for as long as it takes
   * while the API server cannot be reached or answers 5xx / 429 (it may be starting up too).
   */
  private async ownNode(signal: AbortSignal): Promise<KubeNode> {
    const end = Date.now() + (this.o.waitMs ?? 30_000);
    const api = new WaitLog(this.log, "the Kubernetes API");
    const registered = new WaitLog(this.log, `node ${JSON.stringify(this.o.nodeName)} to be registered`);
    for (;;) {
      try {
        const node = await this.o.client.getNode(this.o.nodeName, signal);
        api.succeeded();
        registered.succeeded();
        return node;
      } catch (e) {
        if (signal.aborted) throw e;
        const status = e instanceof KubeApiError ? e.status : 0;
        const unavailable = status === 0 || status === 429 || status >= 500;
        if (unavailable) {
          this.stats.errors++;
          api.failed(e);
        } else if (status === 404 && Date.now() <= end) registered.failed(e);
        else if (status === 404)
          throw new Error(`node ${JSON.stringify(this.o.nodeName)} does not exist: check NODE_NAME`);
        else throw e;
        await sleep(this.o.pollMs ?? 3000, signal);
      }
    }
  }

  async nodePublicIPs(signal: AbortSignal): Promise<{ v4?: string; v6?: string }> {
    const a = (await this.ownNode(signal)).annotations;
    const v4 = a[this.ann.nodePublicIP];
    const v6 = a[this.ann.nodePublicIPv6];
    return { ...(v4 ? { v4 } : {}), ...(v6 ? { v6 } : {}) };
  }

  async listLeases(signal: AbortSignal): Promise<Lease[]> {
    const { items } = await this.o.client.listNodes(signal);
    return items.map((n) => nodeToLease(n, this.ann)).filter((l): l is Lease => l !== undefined);
  }

  async nodeLease(signal: AbortSignal): Promise<{ name: string; lease: Lease | undefined }> {
    const node = await this.o.client.getNode(this.o.nodeName, signal);
    let subnet: IpNet | undefined;
    let subnetV6: IpNet | undefined;
    for (const c of node.podCIDRs) {
      const n = parseCidr(c);
      if (n?.family === 4) subnet = maskNet(n);
      if (n?.family === 6) subnetV6 = maskNet(n);
    }
    const lease = subnet || subnetV6 ? { ...(subnet ? { subnet } : {}), ...(subnetV6 ? { subnetV6 } : {}) } : undefined;
    return {
      name: node.name,
      lease: lease ? { ...lease, attrs: nodeToLease(node, this.ann)?.attrs ?? { PublicIP: "" } } : undefined,
    };
  }

  /** Attributes this node published before (to keep e.g. the VTEP MAC across restarts). */
  async previousAttrs(_publicIP: string, signal: AbortSignal): Promise<LeaseAttrs | undefined> {
    return nodeToLease(await this.ownNode(signal), this.ann)?.attrs;
  }

  private subnetsOf(node: KubeNode, cfg: NetworkConfig): { subnet?: IpNet; subnetV6?: IpNet } {
    const out: { subnet?: IpNet; subnetV6?: IpNet } = {};
    for (const c of node.podCIDRs) {
      const n = parseCidr(c);
      if (n?.family === 4) out.subnet = maskNet(n);
      if (n?.family === 6) out.subnetV6 = maskNet(n);
    }
    const name = JSON.stringify(node.name);
    const fix =
      "start kube-controller-manager with --allocate-node-cidrs=true and a --cluster-cidr matching net-conf.json";
    if (cfg.enableIPv4) {
      if (!out.subnet) throw new Error(`node ${name} pod cidr not assigned (spec.podCIDR is empty): ${fix}`);
      if (cfg.network && !containsNet(cfg.network, out.subnet)) {
        throw new Error(
          `node ${name} podCIDR ${formatCidr(out.subnet)} is not inside Network ` +
            `${formatCidr(cfg.network)} of ${this.o.netConfPath}: make them agree`,
        );
      }
    }
    if (cfg.enableIPv6) {
      if (!out.subnetV6)
        throw new Error(`node ${name} has no IPv6 pod cidr while EnableIPv6 is true: ${fix} (dual-stack)`);
      if (cfg.ipv6Network && !containsNet(cfg.ipv6Network, out.subnetV6)) {
        throw new Error(
          `node ${name} IPv6 podCIDR ${formatCidr(out.subnetV6)} is not ` +
            `inside IPv6Network ${formatCidr(cfg.ipv6Network)}: make them agree`,
        );
      }
    }
    return out;
  }

  /** The own node once it has its pod CIDR(s); a new node may get them a little after it registers. */
  private async waitForPodCidr(
    cfg: NetworkConfig,
    signal: AbortSignal,
  ): Promise<{ node: KubeNode; sn: { subnet?: IpNet; subnetV6?: IpNet } }> {
    const end = Date.now() + (this.o.waitMs ?? 30_000);
    const podCidr = new WaitLog(this.log, "the node's pod CIDR to be assigned");
    for (;;) {
      const node = await this.ownNode(signal);
      try {
        return { node, sn: this.subnetsOf(node, cfg) };
      } catch (e) {
        if (node.podCIDRs.length > 0 || Date.now() > end || signal.aborted) throw e;
        podCidr.failed(e);
        await sleep(this.o.pollMs ?? 3000, signal);
      }
    }
  }

  async acquireLease(attrsIn: LeaseAttrs, signal: AbortSignal): Promise<Lease> {
    const cfg = this.config;
    if (!cfg) throw new Error("KubeSubnetManager: getNetworkConfig must succeed before acquireLease");
    const { node, sn } = await this.waitForPodCidr(cfg, signal);
    let attrs = attrsIn;
    const over4 = node.annotations[this.ann.publicIPOverwrite];
    const over6 = node.annotations[this.ann.publicIPv6Overwrite];
    if (over4 && parseIp(over4)?.family === 4) attrs = { ...attrs, PublicIP: over4 };
    if (over6 && parseIp(over6)?.family === 6) attrs = { ...attrs, PublicIPv6: over6 };
    const want: Record<string, string> = {
      [this.ann.backendData]: JSON.stringify(attrs.BackendData ?? null),
      [this.ann.backendType]: attrs.BackendType ?? "",
      [this.ann.subnetKubeManaged]: "true",
    };
    if (cfg.enableIPv4) want[this.ann.publicIP] = attrs.PublicIP;
    if (cfg.enableIPv6) {
      want[this.ann.backendV6Data] = JSON.stringify(attrs.BackendV6Data ?? null);
      if (attrs.PublicIPv6) want[this.ann.publicIPv6] = attrs.PublicIPv6;
    }
    if (Object.entries(want).some(([k, v]) => node.annotations[k] !== v)) {
      await this.patchWithRetry({ metadata: { annotations: want } }, "annotations", signal);
      this.log.info("published the flannel annotations", { subnet: describeLease(sn) });
    }
    return { ...sn, attrs };
  }

  private async patchWithRetry(patch: unknown, what: string, signal: AbortSignal): Promise<void> {
    const end = Date.now() + (this.o.waitMs ?? 30_000);
    const patching = new WaitLog(this.log, `the Kubernetes API (patching the node ${what})`);
    for (;;) {
      try {
        await this.o.client.patchNodeStatus(this.o.nodeName, patch, signal);
        patching.succeeded();
        return;
      } catch (e) {
        if (!signal.aborted) this.stats.errors++;
        if (Date.now() > end || signal.aborted || (e instanceof KubeApiError && e.status === 403)) {
          throw new Error(`patching the ${what} of node ${this.o.nodeName} failed: ${errorMessage(e)}`);
        }
        patching.failed(e);
        await sleep(this.o.pollMs ?? 3000, signal);
      }
    }
  }

  async completeLease(_lease: Lease, signal: AbortSignal): Promise<void> {
    if (this.o.setNodeNetworkUnavailable ?? true) {
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
      const condition = {
        type: "NetworkUnavailable",
        status: "False",
        reason: "FlannelIsUp",
        message: "Flannel is running on this node",
        lastTransitionTime: now,
        lastHeartbeatTime: now,
      };
      try {
        await this.patchWithRetry({ status: { conditions: [condition] } }, "NetworkUnavailable condition", signal);
        this.log.info("set node condition NetworkUnavailable=False");
      } catch (e) {
        if (!signal.aborted)
          this.log.error("could not set the NetworkUnavailable condition", { error: errorMessage(e) });
      }
    }
    while (!signal.aborted) await sleep(2 ** 31 - 1, signal);
  }

  async watchLeases(own: Lease, onEvents: LeaseEventHandler, signal: AbortSignal): Promise<void> {
    let known = new Map<string, Lease>();
    const backoff = new Backoff(100, 5000);
    const listWatch = new WaitLog(this.log, "the Kubernetes API (node list/watch)");
    let rv = "";
    let first = true;
    let watches = 0;
    const peer = (n: KubeNode): Lease | undefined => {
      if (n.name === this.o.nodeName) return undefined;
      const l = nodeToLease(n, this.ann);
      return l && !sameSubnets(l, own) ? l : undefined;
    };
    while (!signal.aborted) {
      try {
        if (rv === "") {
          const list = await this.o.client.listNodes(signal);
          listWatch.succeeded();
          const next = new Map<string, Lease>();
          for (const n of list.items) {
            const l = peer(n);
            if (l) next.set(n.name, l);
          }
          const batch = [...next].flatMap(([name, l]) => nodeChange(known.get(name), l));
          for (const [name, l] of known) if (!next.has(name)) batch.push({ type: "removed", lease: l });
          known = next;
          rv = list.resourceVersion;
          if (first || batch.length > 0) await onEvents(batch);
          first = false;
        }
        let chain: Promise<void> = Promise.resolve();
        if (watches++ > 0) this.stats.reconnects++;
        await this.o.client.watchNodes(
          rv,
          (type, node) => {
            if (node.resourceVersion) rv = node.resourceVersion;
            if (type === "BOOKMARK") return;
            const next = type === "DELETED" ? undefined : peer(node);
            const batch = nodeChange(known.get(node.name), next);
            if (next) known.set(node.name, next);
            else known.delete(node.name);
            if (batch.length > 0) chain = chain.then(() => onEvents(batch));
            backoff.reset();
            listWatch.succeeded();
          },
          signal,
        );
        await chain;
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof KubeApiError && e.status === 410) {
          this.log.info("node watch expired (410 Gone), relisting", { resource_version: rv });
          rv = "";
          continue;
        }
        this.stats.errors++;
        listWatch.failed(e);
        await sleep(backoff.next(), signal);
      }
    }
  }
}

/** A peer lease from a node, or undefined when the node is not managed by flannel (yet). */
export function nodeToLease(n: KubeNode, ann: AnnotationNames): Lease | undefined {
  const a = n.annotations;
  if (a[ann.subnetKubeManaged] !== "true") return undefined;
  let subnet: IpNet | undefined;
  let subnetV6: IpNet | undefined;
  for (const c of n.podCIDRs) {
    const p = parseCidr(c);
    if (p?.family === 4) subnet = maskNet(p);
    if (p?.family === 6) subnetV6 = maskNet(p);
  }
  if (!subnet && !subnetV6) return undefined;
  const json = (k: string): unknown => {
    const v = a[k];
    if (v === undefined || v === "" || v === "null") return undefined;
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return undefined;
    }
  };
  const bd = json(ann.backendData);
  const bd6 = json(ann.backendV6Data);
  const ip6 = a[ann.publicIPv6];
  const attrs: LeaseAttrs = {
    PublicIP: a[ann.publicIP] ?? "0.0.0.0",
    ...(ip6 ? { PublicIPv6: ip6 } : {}),
    ...(a[ann.backendType] ? { BackendType: a[ann.backendType] as string } : {}),
    ...(bd !== undefined ? { BackendData: bd } : {}),
    ...(bd6 !== undefined ? { BackendV6Data: bd6 } : {}),
  };
  return { ...(subnet ? { subnet } : {}), ...(subnetV6 ? { subnetV6 } : {}), attrs };
}

/** Events for one node going from `prev` to `next` (either may be absent). */
export function nodeChange(prev: Lease | undefined, next: Lease | undefined): LeaseEvent[] {
  if (!prev) return next ? [{ type: "added", lease: next }] : [];
  if (!next) return [{ type: "removed", lease: prev }];
  if (!sameSubnets(prev, next))
    return [
      { type: "removed", lease: prev },
      { type: "added", lease: next },
    ];
  return sameAttrs(prev.attrs, next.attrs) ? [] : [{ type: "added", lease: next }];
}
