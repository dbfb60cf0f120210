/**
 * A healthy vxlan node for the doctor's unit tests, every part a fake a test can break: links,
 * addresses and routes in a RecordingNetlink, /proc/sys in a MemorySysctl, files in a map,
 * iptables-save output, the store's config and leases, the IPAM data dir, the CNI socket's answer,
 * the health port and the peers' probe answers.
 *
 * Node 10.244.1.0/24 at 192.0.2.11 (eth0, MTU 1500), flannel.1 (MTU 1450) over eth0, cni0 with
 * 10.244.1.1/24, one peer 10.244.2.0/24 at 192.0.2.12 routed via flannel.1.
 */
import { MemorySysctl } from "../../linux/testing/memory-sysctl.ts";
import { RecordingNetlink } from "../../linux/testing/recording-client.ts";
import { RecordingRunner } from "../../linux/testing/recording-runner.ts";
import { parseNetworkConfig, checkNetworkConfig } from "../config.ts";
import { defaultFlags, type FlannelFlags } from "../flags.ts";
import type { IpamReservation } from "../ipam-view.ts";
import type { Lease } from "../lease.ts";
import { parseCidr } from "../../net/prefix.ts";
import type { ProbeOptions, ProbeOutcome } from "../probe/prober.ts";
import type { DoctorContext, RelayAnswer } from "../doctor/context.ts";
import { defaultOptions, type DoctorOptions } from "../doctor/options.ts";

const net = (s: string) => {
  const n = parseCidr(s);
  if (!n) throw new Error(s);
  return n;
};

export const OWN: Lease = {
  subnet: net("10.244.1.0/24"),
  attrs: { PublicIP: "192.0.2.11", BackendType: "vxlan", BackendData: { VNI: 1, VtepMAC: "0e:00:00:00:00:01" } },
};
export const PEER: Lease = {
  subnet: net("10.244.2.0/24"),
  attrs: { PublicIP: "192.0.2.12", BackendType: "vxlan", BackendData: { VNI: 1, VtepMAC: "0e:00:00:00:00:02" } },
};

export const SUBNET_ENV = [
  "FLANNEL_NETWORK=10.244.0.0/16",
  "FLANNEL_SUBNET=10.244.1.1/24",
  "FLANNEL_MTU=1450",
  "FLANNEL_IPMASQ=true",
  "",
].join("\n");

export const CONFLIST = {
  name: "cbr0",
  cniVersion: "1.1.0",
  plugins: [
    { type: "flannel", delegate: { hairpinMode: true, isDefaultGateway: true } },
    { type: "portmap", capabilities: { portMappings: true } },
  ],
};

/** iptables-nft-save of a node where flanneld installed its rules (and nothing else is there). */
export const NFT_SAVE = [
  "*nat",
  ":PREROUTING ACCEPT [0:0]",
  ":POSTROUTING ACCEPT [0:0]",
  ":FLANNEL-POSTRTG - [0:0]",
  '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
  "COMMIT",
  "*filter",
  ":INPUT ACCEPT [0:0]",
  ":FORWARD ACCEPT [0:0]",
  ":OUTPUT ACCEPT [0:0]",
  ":FLANNEL-FWD - [0:0]",
  '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
  '-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
  '-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
  "COMMIT",
  "",
].join("\n");

export class FakeNode {
  readonly sysctl = new MemorySysctl({
    "net.ipv4.ip_forward": 1,
    "net.bridge.bridge-nf-call-iptables": 1,
    "net/ipv4/conf/all/rp_filter": 0,
    "net/ipv4/conf/default/rp_filter": 0,
  });
  readonly nl = new RecordingNetlink(() => undefined, this.sysctl);
  flags: FlannelFlags = { ...defaultFlags(), healthzPort: 8081, subnetFile: "/run/flannel/subnet.env" };
  options: DoctorOptions = { ...defaultOptions({}), cniConfDir: "/etc/cni/net.d", cniPath: ["/opt/cni/bin"] };
  readonly files = new Map<string, string>([
    ["/run/flannel/subnet.env", SUBNET_ENV],
    ["/etc/cni/net.d/10-flannel.conflist", JSON.stringify(CONFLIST)],
    ["/run/flannel/cni.sock", ""],
    ["/var/run/netns", ""],
    ["/var/run/netns/cni-1", ""],
  ]);
  readonly executables = new Set(["/opt/cni/bin/flannel", "/opt/cni/bin/portmap", "/opt/cni/bin/bridge"]);
  /** `<mode>` -> iptables-<mode>-save output; absent = the tool fails. */
  readonly saves = new Map<string, string>([["nft", NFT_SAVE]]);
  readonly nftTables = new Set(["ip flannel-ipv4"]);
  configText = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
  leases: Lease[] = [OWN, PEER];
  kubeNode: { name: string; lease: Lease | undefined } | undefined;
  storeError: string | undefined;
  readonly reservations: IpamReservation[] = [{ ip: "10.244.1.2", containerID: "c1", ifname: "eth0" }];
  /** plugin path -> supported versions (default 0.1.0 .. 1.1.0). */
  readonly versions = new Map<string, string[]>();
  relayAnswer: RelayAnswer = { answered: true, exitCode: 0, stdout: "" };
  readyz = { status: 200, body: "flanneld is ready" };
  /** Answer of a probe to an address (default: answered, the peer knows us). */
  probeAnswer: (o: ProbeOptions) => ProbeOutcome = (o) => ({
    ok: true,
    rttMs: 0.4,
    reply: { id: "0000000000000000", subnet: o.address, knowsSender: true, version: "0.1.0" },
  });
  readonly probes: ProbeOptions[] = [];
  /** The runtime's result cache: the attachment of the one reservation. */
  readonly cache: { containerId: string; network: string; ifName: string; netns: string }[] = [
    { containerId: "c1", network: "cbr0", ifName: "eth0", netns: "/var/run/netns/cni-1" },
  ];

  constructor() {
    const nl = this.nl;
    nl.createBridge({ name: "eth0", mtu: 1500 });
    const eth0 = nl.getLink("eth0").index;
    nl.addAddr("eth0", "192.0.2.11/24");
    nl.createVxlan({ name: "flannel.1", vni: 1, local: "192.0.2.11", underlayIndex: eth0, mtu: 1450 });
    nl.addAddr("flannel.1", "10.244.1.0/32");
    nl.createBridge({ name: "cni0", mtu: 1450 });
    nl.addAddr("cni0", "10.244.1.1/24");
    nl.addRoute({ dst: "10.244.2.0/24", gateway: "10.244.2.0", dev: "flannel.1", onlink: true });
    for (const name of ["eth0", "flannel.1", "cni0"]) this.sysctl.add(`net/ipv4/conf/${name}/rp_filter`, 0);
  }

  context(): DoctorContext {
    const store =
      this.storeError === undefined
        ? {
            kind: (this.kubeNode ? "kube" : "etcd") as "kube" | "etcd",
            where: "http://192.0.2.1:2379",
            config: async () => checkNetworkConfig(parseNetworkConfig(this.configText, "test"), "test"),
            leases: async () => this.leases,
            ...(this.kubeNode ? { ownNode: async () => this.kubeNode as NonNullable<FakeNode["kubeNode"]> } : {}),
            close: () => undefined,
          }
        : undefined;
    const runner = new RecordingRunner((c) => {
      const m = /^iptables-(legacy|nft)-save$/.exec(c.cmd);
      if (m) {
        const out = this.saves.get(m[1] ?? "");
        return out === undefined ? { exitCode: 1, stderr: "not there" } : { stdout: out };
      }
      if (c.cmd === "nft") return { exitCode: this.nftTables.has(`${c.args[2]} ${c.args[3]}`) ? 0 : 1 };
      return { exitCode: 127 };
    });
    return {
      flags: this.flags,
      options: this.options,
      nl: this.nl,
      sysctl: this.sysctl,
      files: {
        read: (p) => this.files.get(p),
        exists: (p) => this.files.has(p),
        listFiles: (dir) =>
          [...this.files.keys()]
            .filter((p) => p.startsWith(`${dir}/`) && !p.slice(dir.length + 1).includes("/"))
            .map((p) => p.slice(dir.length + 1)),
        isExecutable: (p) => this.executables.has(p),
      },
      run: runner,
      store,
      ...(this.storeError !== undefined ? { storeError: this.storeError } : {}),
      ipam: {
        networks: (dir) => [{ network: "cbr0", dir: `${dir}/cbr0`, reservations: this.reservations }],
        poolSize: (s) => (s.endsWith("/24") ? 253 : 0),
      },
      cachedAttachments: () => this.cache,
      flannelDelegates: (conf) => {
        const d = conf["delegate"] as Record<string, unknown> | undefined;
        return { plugin: typeof d?.["type"] === "string" ? d["type"] : "bridge", ipam: "host-local" };
      },
      pluginVersions: async (path) => ({ versions: this.versions.get(path) ?? ["0.3.1", "0.4.0", "1.0.0", "1.1.0"] }),
      relay: async () => this.relayAnswer,
      http: async () => this.readyz,
      probe: async (o) => {
        this.probes.push(o);
        return this.probeAnswer(o);
      },
    };
  }
}
