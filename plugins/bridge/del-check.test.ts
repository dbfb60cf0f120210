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
    const eth0 = h.pod.link("eth0")?.index;
    const before = h.pod.nl.calls.length;
    await bridgeDel(h.call(conf()), h.deps);
    expect(h.pod.link("eth0")).toBeUndefined();
    expect(h.host.link("veth00000001")).toBeUndefined();
    expect(h.host.link("cni0")).toBeDefined();
    expect(h.ipam.calls).toEqual(["ADD host-local", "DEL host-local"]);
    // one request in the pod's netns deletes the pair: the kernel takes the host end with it
    const deletes = h.pod.nl.calls.slice(before).filter((c) => c.method === "deleteLink");
    expect(deletes.map((c) => c.args[0])).toEqual([eth0]);
    expect(h.host.nl.calls.some((c) => c.method === "deleteLink")).toBe(false);
    expect(h.kernel.openHandles).toBe(0);
  });

  it(
    "reads the pod interface's addresses once, and only when masquerade rules are to be removed or " +
      "host-local's reservations can say whose the interface is",
    async () => {
      for (const [ipMasq, records] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ] as const) {
        const h = harness();
        const { readFile: _records, ...noRecords } = h.deps;
        const deps = records ? h.deps : noRecords;
        await bridgeAdd(h.call(conf({ ipMasq, ipMasqBackend: "iptables" })), deps);
        const eth0 = h.pod.link("eth0")?.index;
        const before = h.pod.nl.calls.length;
        await bridgeDel(h.call(conf({ ipMasq })), deps);
        expect(h.pod.link("eth0")).toBeUndefined();
        const listed = h.pod.nl.calls.slice(before).filter((c) => c.method === "listAddrs");
        expect(listed.map((c) => c.args[0])).toEqual(
          ipMasq || records
            ? [
                { dev: eth0, family: 4 },
                { dev: eth0, family: 6 },
              ]
            : [],
        );
      }
    },
  );

  describe("deletes only its own attachment", () => {
    const reserve = (h: ReturnType<typeof harness>, ip: string, owner: string) =>
      h.files.set(`/var/lib/cni/networks/mynet/${ip}`, `${owner}\r\neth0`);

    it("leaves an eth0 that is no veth (the node's, a dummy) and still releases IPAM", async () => {
      const h = harness();
      h.pod.nl.createDummy({ name: "eth0" });
      await bridgeDel(h.call(conf()), h.deps);
      expect(h.pod.link("eth0")).toBeDefined();
      expect(h.ipam.calls).toEqual(["DEL host-local"]);
      expect(h.logs).toEqual([`left eth0 in ${POD} as it is: it is a dummy device, not a veth this plugin made`]);
    });

    it("leaves a veth whose peer is no port of this network's bridge", async () => {
      const h = harness(["00000001"]);
      await bridgeAdd(h.call(conf({ bridge: "other0" })), h.deps);
      await bridgeDel(h.call(conf()), h.deps);
      expect(h.pod.link("eth0")).toBeDefined();
      expect(h.logs.at(-1)).toMatch(/its peer is not a port of bridge cni0$/);
    });

    it("deletes a pair an ADD killed before it attached the host end to any bridge", async () => {
      const h = harness();
      const pod = h.deps.openPod(POD);
      h.deps.host.addVethToPod(pod, { hostName: "vethdeadbeef", podName: "eth0", mtu: 0 });
      pod.close();
      await bridgeDel(h.call(conf()), h.deps);
      expect(h.pod.link("eth0")).toBeUndefined();
      expect(h.logs).toEqual([]);
    });

    it("leaves another container's attachment (an address reserved for it) and deletes its own", async () => {
      const h = harness(["00000001"]);
      await bridgeAdd(h.call(conf(), { containerID: "pod-a" }), h.deps);
      reserve(h, "10.1.2.2", "pod-a");
      await bridgeDel(h.call(conf(), { containerID: "pod-b" }), h.deps);
      expect(h.pod.link("eth0")).toBeDefined();
      expect(h.host.link("veth00000001")).toBeDefined();
      expect(h.logs.at(-1)).toMatch(/it carries 10\.1\.2\.2, reserved for container pod-a$/);
      await bridgeDel(h.call(conf(), { containerID: "pod-a" }), h.deps);
      expect(h.pod.link("eth0")).toBeUndefined();
    });

    it("deletes its attachment when no reservation names it any more (a DEL retried after IPAM released)", async () => {
      const h = harness(["00000001"]);
      await bridgeAdd(h.call(conf()), h.deps);
      await bridgeDel(h.call(conf()), h.deps);
      expect(h.pod.link("eth0")).toBeUndefined();
    });
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
    h.kernel.remove(POD);
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
      if (gone) h.kernel.remove(POD);
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
    expect([h.host.nl.calls, h.pod.nl.calls, h.host.sysctl.writes, h.pod.sysctl.writes]).toEqual([[], [], [], []]);
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
    const routes = h.pod.nl.routes.splice(0);
    expect((await codeOf(bridgeCheck(h.call(conf({ prevResult: add })), h.deps)))[0]).toBe(100);
    h.pod.nl.routes.push(...routes.filter((r) => r.dst !== "0.0.0.0/0"));
    expect(await codeOf(bridgeCheck(h.call(conf({ prevResult: add })), h.deps))).toEqual([
      100,
      "Expected Route {Dst:0.0.0.0/0 GW:10.1.2.1} not found in routing table",
    ]);
    h.pod.nl.deleteAddr("eth0", "10.1.2.2/24");
    expect(await codeOf(bridgeCheck(h.call(conf({ prevResult: add })), h.deps))).toEqual([
      100,
      "Failed to match addr 10.1.2.2/24 on interface eth0",
    ]);
    h.pod.nl.setMac("eth0", "02:99:99:99:99:99");
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
