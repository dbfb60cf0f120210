/**
 * The store and this node's lease: the network config can be read, subnet.env exists and names the
 * cluster network of the config and the subnet the store gives this node (etcd: a live lease of
 * this node's public address; kube: the node's spec.podCIDR).
 */
import { containsNet, formatCidr, parseCidr, parseIp, sameNet, type IpNet } from "../../../net/prefix.ts";
import type { Lease } from "../../lease.ts";
import { fail, ok, type CheckResult } from "../check.ts";
import type { DoctorContext } from "../context.ts";
import { envSubnets, leaseText, type NodeFacts } from "../facts.ts";

const STORE = "store";
const SUBNET_ENV = "subnet-env";

export function storeCheck(ctx: DoctorContext, f: NodeFacts): CheckResult {
  const title = "network config";
  const where = ctx.store ? `${ctx.store.kind} at ${ctx.store.where}` : "the store";
  if (f.configError) {
    const fix = ctx.flags.kubeSubnetMgr
      ? "give the doctor flanneld's flags (--kube-subnet-mgr, --net-config-path, --kubeconfig-file or the in-cluster " +
        "service account, NODE_NAME); the message says what is missing"
      : "give the doctor flanneld's --etcd-endpoints / --etcd-prefix / TLS flags; the message says what is missing";
    return fail(STORE, title, `cannot read the network config from ${where}: ${f.configError}`, fix);
  }
  const c = f.config;
  const nets = [c?.network, c?.ipv6Network].filter((n): n is IpNet => n !== undefined).map(formatCidr);
  const leases = f.leases ? `, ${f.leases.length} lease(s)` : "";
  if (f.leasesError)
    return fail(STORE, title, `network config read, but listing the leases failed: ${f.leasesError}`, storeFix(ctx));
  return ok(STORE, title, `${where}: Network ${nets.join(", ")}, backend ${c?.backend.type ?? "?"}${leases}`);
}

function storeFix(ctx: DoctorContext): string {
  return ctx.flags.kubeSubnetMgr
    ? "check the API server and flannel's RBAC (nodes list/watch)"
    : "check etcd's health (etcdctl endpoint health) and the prefix";
}

/** Whether `ip` is an address of this node. */
function isLocal(f: NodeFacts, ip: string | undefined): boolean {
  const a = ip ? parseIp(ip) : undefined;
  if (!a) return false;
  return f.addrs.some((x) => {
    const b = parseIp(x.ip);
    return b !== undefined && b.family === a.family && b.ip === a.ip;
  });
}

function networksAgree(f: NodeFacts): string | undefined {
  const env = f.subnetEnv;
  const c = f.config;
  if (!env || !c) return undefined;
  const check = (label: string, written: readonly string[], want: IpNet | undefined, on: boolean) => {
    if (!on || !want) return undefined;
    const w = written[0] ? parseCidr(written[0]) : undefined;
    if (!w || !sameNet(w, want))
      return `${label} is ${written[0] ?? "absent"} but the network config says ${formatCidr(want)}`;
    return undefined;
  };
  return (
    check("FLANNEL_NETWORK", env.networks, c.network, c.enableIPv4) ??
    check("FLANNEL_IPV6_NETWORK", env.ipv6Networks, c.ipv6Network, c.enableIPv6)
  );
}

export function subnetEnvCheck(ctx: DoctorContext, f: NodeFacts): CheckResult {
  const title = "subnet.env vs lease";
  const path = ctx.flags.subnetFile;
  if (!f.subnetEnv) {
    return fail(
      SUBNET_ENV,
      title,
      f.subnetEnvError ?? `${path} is missing`,
      `flanneld writes ${path} once it holds a lease: check that it runs with the same --subnet-file and read its log`,
    );
  }
  const restart =
    `restart flanneld (it writes ${path} again from its lease), then recreate the pods on this node ` +
    "(they keep addresses of the old subnet)";
  const mismatch = networksAgree(f);
  if (mismatch) return fail(SUBNET_ENV, title, `${path}: ${mismatch}`, restart);
  const mine = envSubnets(f.subnetEnv);
  const written = leaseText(mine);
  if (f.config?.network && mine.subnet && !containsNet(f.config.network, mine.subnet))
    return fail(
      SUBNET_ENV,
      title,
      `FLANNEL_SUBNET ${written} is outside Network ${formatCidr(f.config.network)}`,
      restart,
    );
  if (!f.leases && !f.kubeNode)
    return fail(SUBNET_ENV, title, `${written}: the store could not be read`, storeFix(ctx));
  if (f.kubeNode) return kubeLease(f, f.kubeNode, mine, written, restart);
  return etcdLease(ctx, f, written, restart);
}

function sameSubnets(a: Pick<Lease, "subnet" | "subnetV6">, b: Pick<Lease, "subnet" | "subnetV6">): boolean {
  const eq = (x?: IpNet, y?: IpNet) => (x && y ? sameNet(x, y) : x === undefined && y === undefined);
  return eq(a.subnet, b.subnet) && eq(a.subnetV6, b.subnetV6);
}

function kubeLease(
  f: NodeFacts,
  node: NonNullable<NodeFacts["kubeNode"]>,
  mine: Pick<Lease, "subnet" | "subnetV6">,
  written: string,
  restart: string,
): CheckResult {
  const title = "subnet.env vs lease";
  if (!node.lease)
    return fail(
      SUBNET_ENV,
      title,
      `node ${node.name} has no spec.podCIDR`,
      "start kube-controller-manager with --allocate-node-cidrs=true and a --cluster-cidr matching net-conf.json",
    );
  if (!sameSubnets(node.lease, mine))
    return fail(
      SUBNET_ENV,
      title,
      `${written} in subnet.env, but node ${node.name}'s podCIDR is ${leaseText(node.lease)}`,
      restart,
    );
  void f;
  return ok(SUBNET_ENV, title, `${written} = node ${node.name}'s podCIDR`);
}

function etcdLease(ctx: DoctorContext, f: NodeFacts, written: string, restart: string): CheckResult {
  const title = "subnet.env vs lease";
  const leases = f.leases ?? [];
  const publicIp = ctx.flags.publicIp;
  const ours = (l: Lease) => l.attrs.PublicIP === publicIp || (!publicIp && isLocal(f, l.attrs.PublicIP));
  const held = f.own;
  if (held && ours(held)) {
    return ok(SUBNET_ENV, title, `${written} = the lease of ${held.attrs.PublicIP}`);
  }
  const elsewhere = leases.find(ours);
  if (held) {
    return fail(
      SUBNET_ENV,
      title,
      `${written} in subnet.env is leased to ${held.attrs.PublicIP}, not to this node` +
        (elsewhere ? ` (this node's lease is ${leaseText(elsewhere)})` : ""),
      `two nodes share a subnet: ${restart}`,
    );
  }
  return fail(
    SUBNET_ENV,
    title,
    elsewhere
      ? `subnet.env says ${written}, but this node's lease is ${leaseText(elsewhere)} (stale subnet.env)`
      : `no lease holds ${written} (expired or deleted)`,
    restart,
  );
}
