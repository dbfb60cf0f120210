import { describe, expect, it } from "vitest";
import { CniError } from "../../libcni/types/error.ts";
import { bridgeAdd } from "./add.ts";
import { bridgeCheck } from "./check.ts";
import { bridgeDel } from "./del.ts";
import { chainName } from "./ipmasq.ts";
import { bridgeGc, bridgeStatus } from "./status.ts";
import { harness, POD } from "./testing/fake-deps.ts";

const conf = (extra: Record<string, unknown> = {}) => ({
  cniVersion: "1.1.0",
  name: "mynet",
  type: "bridge",
  isDefaultGateway: true,
  ipam: { type: "host-local" },
  ...extra,
});

async function codeOf(p: Promise<unknown>): Promise<[number, string]> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CniError) return [e.code, e.msg];
    throw e;
  }
  throw new Error("expected a failure");
}

describe("bridge DEL", () => {
  it("removes the pod interface and its host veth, releases IPAM, keeps the bridge (checklist 64)", async () => {
    const h = harness(["00000001"]);
    await bridgeAdd(h.call(conf()), h.deps);
    await bridgeDel(h.call(conf()), h.deps);
    expect(h.world.pods.get(POD)?.links.has("eth0")).toBe(false);
    expect(h.world.host.links.has("veth00000001")).toBe(false);
    expect(h.world.host.links.has("cni0")).toBe(true);
    expect(h.ipam.calls).toEqual(["ADD host-local", "DEL host-local"]);
  });

  it("reads the pod interface's addresses only when masquerade rules are to be removed", async () => {
    for (const ipMasq of [false, true]) {
      const h = harness();
      await bridgeAdd(h.call(conf({ ipMasq, ipMasqBackend: "iptables" })), h.deps);
      const listed: string[] = [];
      const open = h.deps.openPod;
      const deps = {
        ...h.deps,
        openPod: (path: string) => {
          const pod = open(path);
          const list = pod.addrList.bind(pod);
          pod.addrList = (name, family) => (listed.push(`${name}/${family}`), list(name, family));
          return pod;
        },
      };
      await bridgeDel(h.call(conf({ ipMasq })), deps);
      expect(h.world.pods.get(POD)?.links.has("eth0")).toBe(false);
      expect(listed).toEqual(ipMasq ? ["eth0/4", "eth0/6"] : []);
    }
  });

  it("succeeds when nothing was configured, and when repeated", async () => {
    const h = harness();
    await bridgeDel(h.call(conf()), h.deps);
    await bridgeDel(h.call(conf()), h.deps);
    expect(h.ipam.calls).toEqual(["DEL host-local", "DEL host-local"]);
  });

  it("still releases IPAM and removes masquerade rules when the netns is gone", async () => {
    const h = harness();
    const add = await bridgeAdd(h.call(conf({ ipMasq: true, ipMasqBackend: "iptables" })), h.deps);
    h.world.pods.delete(POD);
    expect(h.iptables.chains.has(chainName("mynet", "cid1"))).toBe(true);
    await bridgeDel(h.call(conf({ ipMasq: true, prevResult: add })), h.deps);
    expect(h.ipam.calls).toEqual(["ADD host-local", "DEL host-local"]);
    expect(h.iptables.chains.get("POSTROUTING")).toEqual([]);
    expect(h.iptables.chains.has(chainName("mynet", "cid1"))).toBe(false);
  });

  it("removes masquerade rules on DEL, also when neither the link nor prevResult tells the address", async () => {
    for (const gone of [false, true]) {
      const h = harness();
      await bridgeAdd(h.call(conf({ ipMasq: true, ipMasqBackend: "iptables" })), h.deps);
      if (gone) h.world.pods.delete(POD);
      await bridgeDel(h.call(conf({ ipMasq: true })), h.deps);
      expect(h.iptables.chains.get("POSTROUTING")).toEqual([]);
      expect(h.iptables.chains.has(chainName("mynet", "cid1"))).toBe(false);
    }
  });

  it(
    "two interfaces of one container share its masquerade chain: the second ADD only " +
      "appends what the chain lacks, DEL of one keeps the other's jump and the chain (found " +
      "by the differential fuzz: we flushed the first's rules and later removed its jump)",
    async () => {
      const h = harness(["00000001", "00000002"]);
      const c = conf({ isDefaultGateway: false, ipMasq: true, ipMasqBackend: "iptables" });
      const chain = chainName("mynet", "cid1");
      const comment = '-m comment --comment "name: \\"mynet\\" id: \\"cid1\\""';
      await bridgeAdd(h.call(c), h.deps);
      h.ipam.next = { cniVersion: "1.1.0", ips: [{ address: "10.1.3.2/24", gateway: "10.1.3.1" }] };
      await bridgeAdd(h.call(c, { ifName: "net1" }), h.deps);
      expect(h.iptables.chains.get(chain)).toEqual([
        `-A ${chain} -d 10.1.2.0/24 ${comment} -j ACCEPT`,
        `-A ${chain} ! -d 224.0.0.0/4 ${comment} -j MASQUERADE`,
        `-A ${chain} -d 10.1.3.0/24 ${comment} -j ACCEPT`,
      ]);
      expect(h.iptables.chains.get("POSTROUTING")).toEqual([
        `-A POSTROUTING -s 10.1.2.2/32 ${comment} -j ${chain}`,
        `-A POSTROUTING -s 10.1.3.2/32 ${comment} -j ${chain}`,
      ]);
      await bridgeDel(h.call(c, { ifName: "net1" }), h.deps);
      expect(h.iptables.chains.get("POSTROUTING")).toEqual([`-A POSTROUTING -s 10.1.2.2/32 ${comment} -j ${chain}`]);
      expect(h.iptables.chains.get(chain)).toHaveLength(3);
      await bridgeDel(h.call(c), h.deps);
      expect(h.iptables.chains.get("POSTROUTING")).toEqual([]);
      expect(h.iptables.chains.has(chain)).toBe(false);
    },
  );

  it(
    "DEL of an interface the pod does not have leaves the masquerade of the container's other " +
      "interface alone (found by the differential fuzz: we removed every jump to the shared chain)",
    async () => {
      const h = harness();
      const c = conf({ ipMasq: true, ipMasqBackend: "iptables" });
      await bridgeAdd(h.call(c), h.deps);
      const before = structuredClone([...h.iptables.chains]);
      await bridgeDel(h.call(c, { ifName: "net1" }), h.deps);
      expect([...h.iptables.chains]).toEqual(before);
      expect(h.iptables.chains.get("POSTROUTING")).toHaveLength(1);
    },
  );

  it("DEL succeeds with an mtu ADD would refuse, and still releases IPAM", async () => {
    const h = harness();
    await bridgeAdd(h.call(conf()), h.deps);
    await bridgeDel(h.call(conf({ mtu: 70000 })), h.deps);
    expect(h.ipam.calls).toEqual(["ADD host-local", "DEL host-local"]);
  });

  it("DEL of a container whose chain never existed changes nothing", async () => {
    const h = harness();
    await bridgeDel(h.call(conf({ ipMasq: true })), h.deps);
    expect([...h.iptables.chains.keys()]).toEqual(["POSTROUTING"]);
  });

  it("only releases IPAM when CNI_NETNS is empty", async () => {
    const h = harness();
    await bridgeDel(h.call(conf(), { netns: "" }), h.deps);
    expect(h.ipam.calls).toEqual(["DEL host-local"]);
    expect(h.world.calls).toEqual([]);
  });

  it("does not call IPAM for a layer-2 config", async () => {
    const h = harness();
    await bridgeDel(h.call(conf({ ipam: {} })), h.deps);
    expect(h.ipam.calls).toEqual([]);
  });
});

describe("bridge CHECK", () => {
  it("passes right after ADD with the ADD result as prevResult (checklist 69)", async () => {
    const h = harness();
    const add = await bridgeAdd(h.call(conf()), h.deps);
    await bridgeCheck(h.call(conf({ prevResult: add })), h.deps);
    expect(h.ipam.calls).toEqual(["ADD host-local", "CHECK host-local"]);
  });

  it("requires prevResult (code 7)", async () => {
    const h = harness();
    await bridgeAdd(h.call(conf()), h.deps);
    expect(await codeOf(bridgeCheck(h.call(conf()), h.deps))).toEqual([7, "Required prevResult missing"]);
  });

  it("reports a missing route, a missing address and a changed MAC (code 100)", async () => {
    const h = harness();
    const add = await bridgeAdd(h.call(conf()), h.deps);
    const pod = h.world.pods.get(POD);
    const routes = pod?.routes.splice(0) ?? [];
    expect((await codeOf(bridgeCheck(h.call(conf({ prevResult: add })), h.deps)))[0]).toBe(100);
    pod?.routes.push(...routes.filter((r) => r.dst !== "0.0.0.0/0"));
    expect(await codeOf(bridgeCheck(h.call(conf({ prevResult: add })), h.deps))).toEqual([
      100,
      "Expected Route {Dst:0.0.0.0/0 GW:10.1.2.1} not found in routing table",
    ]);
    const eth0 = pod?.links.get("eth0");
    if (eth0) eth0.addrs = [];
    expect(await codeOf(bridgeCheck(h.call(conf({ prevResult: add })), h.deps))).toEqual([
      100,
      "Failed to match addr 10.1.2.2/24 on interface eth0",
    ]);
    if (eth0) eth0.mac = "02:99:99:99:99:99";
    expect((await codeOf(bridgeCheck(h.call(conf({ prevResult: add })), h.deps)))[1]).toMatch(
      /Interface eth0 Mac .* doesn't match container Mac: 02:99:99:99:99:99/,
    );
  });

  it("reports a promisc mismatch and a missing host veth", async () => {
    const h = harness(["00000005"]);
    const add = await bridgeAdd(h.call(conf()), h.deps);
    expect((await codeOf(bridgeCheck(h.call(conf({ prevResult: add, promiscMode: true })), h.deps)))[1]).toMatch(
      /Promisc Mode true doesn't match current state: false/,
    );
    const withoutVeth = { ...add, interfaces: [add.interfaces?.[0], add.interfaces?.[2]] };
    expect(await codeOf(bridgeCheck(h.call(conf({ prevResult: withoutVeth })), h.deps))).toEqual([
      100,
      "CNI veth created for bridge cni0 was not found",
    ]);
  });
});

describe("bridge STATUS and GC", () => {
  it("forward to IPAM when there is one, and do nothing for layer 2", async () => {
    const h = harness();
    await bridgeStatus(h.call(conf()), h.deps);
    await bridgeGc(h.call(conf()), h.deps);
    await bridgeStatus(h.call(conf({ ipam: {} })), h.deps);
    expect(h.ipam.calls).toEqual(["STATUS host-local", "GC host-local"]);
  });
});
