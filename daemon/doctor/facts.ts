/**
 * What the checks share, read once: subnet.env, the network config and the leases from the store,
 * this node's lease, the CNI config files in the order the runtime reads them, and the links and
 * addresses of the node. A part that cannot be read carries the reason instead.
 */
import { basename, join } from "node:path";
import { confFromBytes, confListFromBytes, confListFromConf } from "../../libcni/conf.ts";
import type { Address } from "../../linux/netlink/addr.ts";
import type { Link } from "../../linux/netlink/link.ts";
import { parseCidr, maskNet, sameNet, type IpNet } from "../../net/prefix.ts";
import { parseSubnetEnv, type SubnetEnv } from "../../net/subnet-env.ts";
import type { NetworkConfig } from "../config.ts";
import { describeLease, type Lease } from "../lease.ts";
import { errorMessage } from "../log.ts";
import type { DoctorContext } from "./context.ts";

/** One file of the CNI config dir, as the runtime would read it. */
export interface CniConfFile {
  readonly file: string;
  /** The network name, the spec version and the plugin types, when the file parses. */
  readonly name?: string;
  readonly cniVersion?: string;
  readonly types?: readonly string[];
  /** Why the runtime would refuse the file. */
  readonly error?: string;
  /** The flannel plugin's object (plain JSON), when the file has one. */
  readonly flannel?: Readonly<Record<string, unknown>>;
}

export interface NodeFacts {
  readonly subnetEnv?: SubnetEnv;
  readonly subnetEnvError?: string;
  readonly config?: NetworkConfig;
  readonly configError?: string;
  readonly leases?: readonly Lease[];
  readonly leasesError?: string;
  /** kube: this node's name and its podCIDR lease. */
  readonly kubeNode?: { readonly name: string; readonly lease: Lease | undefined };
  /** This node's lease in the store: the one holding subnet.env's subnet (etcd), or the podCIDR (kube). */
  readonly own?: Lease;
  /** CNI config files in the order the runtime tries them (bytewise sorted names). */
  readonly cniFiles: readonly CniConfFile[];
  readonly links: readonly Link[];
  readonly addrs: readonly Address[];
}

const STORE_TIMEOUT_MS = 5000;
const CNI_CONF_EXTENSIONS = [".conf", ".conflist", ".json"];

/** subnet.env's IPv4 / IPv6 subnets as networks (10.244.1.1/24 -> 10.244.1.0/24). */
export function envSubnets(env: SubnetEnv | undefined): { subnet?: IpNet; subnetV6?: IpNet } {
  const net = (s: string | undefined) => {
    const n = s ? parseCidr(s) : undefined;
    return n ? maskNet(n) : undefined;
  };
  const subnet = net(env?.subnet);
  const subnetV6 = net(env?.ipv6Subnet);
  return { ...(subnet ? { subnet } : {}), ...(subnetV6 ? { subnetV6 } : {}) };
}

function sameLeaseSubnets(a: Pick<Lease, "subnet" | "subnetV6">, b: Pick<Lease, "subnet" | "subnetV6">): boolean {
  const eq = (x?: IpNet, y?: IpNet) => (x && y ? sameNet(x, y) : x === undefined && y === undefined);
  return eq(a.subnet, b.subnet) && eq(a.subnetV6, b.subnetV6);
}

function readCniFiles(ctx: DoctorContext): CniConfFile[] {
  const enc = new TextEncoder();
  const byBytes = (a: string, b: string) => Buffer.compare(enc.encode(a), enc.encode(b));
  // the runtime's choice, as libcni's ConfFiles and the runtimes do it: these extensions, names sorted bytewise
  const dir = ctx.options.cniConfDir;
  const names = ctx.files.listFiles(dir) ?? [];
  const files = names
    .filter((n) => CNI_CONF_EXTENSIONS.some((ext) => n.endsWith(ext)))
    .sort(byBytes)
    .map((n) => join(dir, n));
  return files.map((file): CniConfFile => {
    const text = ctx.files.read(file);
    if (text === undefined) return { file, error: "cannot be read" };
    try {
      const list = file.endsWith(".conflist") ? confListFromBytes(text) : confListFromConf(confFromBytes(text));
      const plain = JSON.parse(text) as Record<string, unknown>;
      const plugins = Array.isArray(plain["plugins"]) ? (plain["plugins"] as unknown[]) : [plain];
      const flannel = plugins.find(
        (p): p is Record<string, unknown> =>
          typeof p === "object" && p !== null && (p as Record<string, unknown>)["type"] === "flannel",
      );
      return {
        file,
        name: list.name,
        cniVersion: list.cniVersion,
        types: list.plugins.map((p) => p.type),
        ...(flannel ? { flannel: { cniVersion: list.cniVersion, name: list.name, ...flannel } } : {}),
      };
    } catch (e) {
      const msg = errorMessage(e);
      const details = (e as { details?: unknown }).details;
      return { file, error: typeof details === "string" && details !== "" ? `${msg} (${details})` : msg };
    }
  });
}

export async function gatherFacts(ctx: DoctorContext): Promise<NodeFacts> {
  const out: { -readonly [K in keyof NodeFacts]: NodeFacts[K] } = {
    cniFiles: readCniFiles(ctx),
    links: ctx.nl.listLinks(),
    addrs: ctx.nl.listAddrs(),
  };
  const text = ctx.files.read(ctx.flags.subnetFile);
  if (text === undefined) out.subnetEnvError = `${ctx.flags.subnetFile} does not exist or cannot be read`;
  else {
    try {
      out.subnetEnv = parseSubnetEnv(text, ctx.flags.subnetFile);
    } catch (e) {
      out.subnetEnvError = errorMessage(e);
    }
  }
  const store = ctx.store;
  if (!store) {
    out.configError = out.leasesError = ctx.storeError ?? "no store";
    return out;
  }
  const signal = () => AbortSignal.timeout(STORE_TIMEOUT_MS);
  try {
    out.config = await store.config(signal());
  } catch (e) {
    out.configError = errorMessage(e);
  }
  try {
    out.leases = await store.leases(signal());
  } catch (e) {
    out.leasesError = errorMessage(e);
  }
  if (store.ownNode) {
    try {
      out.kubeNode = await store.ownNode(signal());
      if (out.kubeNode.lease) out.own = out.kubeNode.lease;
    } catch (e) {
      out.leasesError ??= errorMessage(e);
    }
  } else if (out.leases && out.subnetEnv) {
    const mine = envSubnets(out.subnetEnv);
    const own = out.leases.find((l) => sameLeaseSubnets(l, mine));
    if (own) out.own = own;
  }
  return out;
}

/** The lease's subnets as text, for messages. */
export function leaseText(l: Pick<Lease, "subnet" | "subnetV6">): string {
  return describeLease(l) || "(none)";
}

/** The first CNI config the runtime would use, and the flannel one (which should be the same). */
export function cniChoice(f: NodeFacts): { first?: CniConfFile; flannel?: CniConfFile } {
  // containerd and CRI-O take the first file by name; one that does not parse stops them there.
  const first = f.cniFiles[0];
  const flannel = f.cniFiles.find((c) => c.flannel !== undefined);
  return { ...(first ? { first } : {}), ...(flannel ? { flannel } : {}) };
}

export function fileName(path: string): string {
  return basename(path);
}
