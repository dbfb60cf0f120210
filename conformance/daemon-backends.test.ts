// End to end for the backends beyond vxlan and host-gw: 3 nodes on a 192.0.2.0/24 underlay, a real
// etcd, our flanneld on each node (as conformance/daemon-cluster.test.ts).
//  - alloc: leases and subnet.env, nothing else (no device, no route).
//  - extension: the four commands run through sh with flannel's environment and stdin; here they
//    program host-gw-like routes with `ip`, so pods reach each other; a node leaving runs
//    SubnetRemoveCommand; a failing command is logged with its output and flanneld goes on.
//  - ipip: where the kernel has ipip, pods reach each other through flannel.ipip; where it does
//    not (this test VM), flanneld exits 1 at start-up naming the missing kernel support.
//  - an unsupported Backend.Type: flanneld exits 1 at once naming the supported types.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { subnetOf, waitFor, WeftCluster, type ClusterNode } from "../netns-fixtures/topology/cluster.ts";
import { missingLinkKind } from "../netns-fixtures/topology/kernel-support.ts";
import { ipJson } from "../netns-fixtures/topology/sh.ts";
import { implsUnderTest } from "./impls.ts";

/** `p`, or a failure naming `what` (and `detail()`) when it takes longer than `ms`. */
async function within<T>(ms: number, what: string, p: Promise<T>, detail: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`waited ${ms} ms for ${what}\n${detail()}`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

const ours = implsUnderTest().some((i) => i.isOurs);
const PREFIX = "/coreos.com/network/subnets";

/** Every lease in etcd: subnet key (10.244.3.0-24) -> attributes JSON text. */
async function leases(c: WeftCluster): Promise<Map<string, string>> {
  const lines = ((await c.etcd?.ctl(["get", "--prefix", PREFIX]))?.stdout ?? "").split("\n").filter((l) => l !== "");
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i += 2) out.set((lines[i] ?? "").slice(PREFIX.length + 1), lines[i + 1] ?? "");
  return out;
}

const keyOf = (n: ClusterNode) => subnetOf(n.subnet ?? "").replace("/", "-");

async function linkNames(ns: string): Promise<string[]> {
  return (await ipJson<{ ifname: string }[]>(ns, ["link", "show"])).map((l) => l.ifname).sort();
}

describe.runIf(ours)("flanneld cluster: alloc", () => {
  const c = new WeftCluster({ nodes: 3, backend: "alloc" });
  beforeAll(() => c.start(), 120_000);
  afterAll(() => c.teardown(), 60_000);

  it("leases a distinct /24 to every node and writes subnet.env with the interface MTU", () => {
    expect(new Set(c.nodes.map((n) => n.subnet)).size).toBe(3);
    for (const n of c.nodes) {
      expect(n.subnet).toMatch(/^10\.244\.\d+\.1\/24$/);
      expect(n.mtu).toBe("1500");
    }
  });

  it("publishes PublicIP only, as flannel's alloc (no BackendType, no BackendData)", async () => {
    const all = await leases(c);
    for (const n of c.nodes) expect(all.get(keyOf(n))).toBe(`{"PublicIP":"${n.ip}","PublicIPv6":null}`);
  });

  it("programs no data plane: no device and no route to another node's subnet", async () => {
    for (const n of c.nodes) {
      expect(await linkNames(n.ns)).toEqual(["eth0", "lo"]);
      expect(await c.routedSubnets(n)).toEqual([]);
    }
  });

  it("a restarted daemon keeps its subnet", async () => {
    const n = c.nodes[0];
    if (!n) throw new Error("node1 missing");
    const before = n.subnet;
    expect(await c.stopDaemon(n)).toBe(0);
    c.startDaemon(n);
    await c.waitReady(n);
    expect(n.subnet).toBe(before);
  });
});

describe.runIf(ours)("flanneld cluster: extension", () => {
  const dir = mkdtempSync(join(tmpdir(), "weft-ext-"));
  const here = "$(ip netns identify)";
  const c = new WeftCluster({
    nodes: 3,
    backend: "extension",
    backendConfig: {
      PreStartupCommand: "cat /sys/class/net/eth0/address",
      PostStartupCommand:
        "{ env | grep -E '^(NETWORK|SUBNET|IPV6SUBNET|PUBLIC_IP|PUBLIC_IPV6)=' " +
        `| sort; echo "stdin=[$(cat)]"; } > ${dir}/post-${here}`,
      SubnetAddCommand:
        `case "$SUBNET" in 10.244.251.0/24) touch ${dir}/slow-${here}; sleep 5;; esac; ` +
        `echo "add $SUBNET $PUBLIC_IP [$(cat)]" >> ${dir}/events-${here}; ` +
        `ip route replace "$SUBNET" via "$PUBLIC_IP"`,
      SubnetRemoveCommand:
        `echo "remove $SUBNET $PUBLIC_IP [$(cat)]" >> ` +
        `${dir}/events-${here}; ip route del "$SUBNET" via "$PUBLIC_IP"`,
    },
  });
  const macs = new Map<string, string>();
  /** The end of `n`'s flanneld log, for a failure message. */
  const logTail = (n: ClusterNode) => () =>
    `flanneld log of ${n.name}:\n${readFileSync(c.logOf(n), "utf8").slice(-4000)}`;
  const events = (n: ClusterNode) =>
    readFileSync(join(dir, `events-${n.ns}`), "utf8")
      .split("\n")
      .filter((l) => l !== "");
  beforeAll(async () => {
    await c.start();
    for (const n of c.nodes)
      macs.set(n.ns, (await ipJson<{ address: string }[]>(n.ns, ["link", "show", "eth0"]))[0]?.address ?? "");
    await c.addPods(2);
    await c.waitMesh();
  }, 120_000);
  afterAll(async () => {
    await c.teardown();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("publishes PreStartupCommand's output (the node's eth0 MAC) as the BackendData string", async () => {
    const all = await leases(c);
    for (const n of c.nodes)
      expect(all.get(keyOf(n))).toBe(
        `{"PublicIP":"${n.ip}","PublicIPv6":null,"BackendType":"extension","BackendData":"${macs.get(n.ns)}"}`,
      );
  });

  it(
    "runs PostStartupCommand with NETWORK, SUBNET, IPV6SUBNET, " + "PUBLIC_IP, PUBLIC_IPV6 and an empty line on stdin",
    () => {
      for (const n of c.nodes) {
        expect(readFileSync(join(dir, `post-${n.ns}`), "utf8")).toBe(
          `IPV6SUBNET=::/0\nNETWORK=10.244.0.0/16\nPUBLIC_IP=${n.ip}\n` +
            `PUBLIC_IPV6=<nil>\nSUBNET=${subnetOf(n.subnet ?? "")}\nstdin=[]\n`,
        );
      }
    },
  );

  it("runs SubnetAddCommand once per peer with SUBNET, PUBLIC_IP and the peer's BackendData on stdin", () => {
    for (const n of c.nodes) {
      const want = c.nodes
        .filter((m) => m !== n)
        .map((m) => `add ${subnetOf(m.subnet ?? "")} ${m.ip} [${macs.get(m.ns)}]`);
      expect(events(n).sort()).toEqual(want.sort());
    }
  });

  it("every pod reaches every other pod over TCP through the routes the commands programmed", async () => {
    const bad = (await c.matrix()).filter(([, , r]) => r !== "ok").map(([a, b, r]) => `${a.name}->${b.name}: ${r}`);
    expect(bad).toEqual([]);
  });

  it("logs a failing SubnetAddCommand / SubnetRemoveCommand with its output and keeps running", async () => {
    const n = c.nodes[0];
    if (!n) throw new Error("node1 missing");
    const key = `${PREFIX}/10.244.250.0-24`;
    await c.etcd?.put(
      key,
      '{"PublicIP":"203.0.113.5","PublicIPv6":null,"BackendType":"extension","BackendData":"0e:00:00:00:00:fa"}',
    );
    await waitFor("node1 to run SubnetAddCommand for 10.244.250.0/24", 10_000, () =>
      events(n).includes("add 10.244.250.0/24 203.0.113.5 [0e:00:00:00:00:fa]"),
    );
    expect(await c.etcd?.del(key)).toBe(1);
    await waitFor("node1 to run SubnetRemoveCommand for 10.244.250.0/24", 10_000, () =>
      events(n).includes("remove 10.244.250.0/24 203.0.113.5 [0e:00:00:00:00:fa]"),
    );
    // the events line is written before the command's `ip route`, and flanneld logs the failure
    // after the command exits: wait for the log lines themselves
    const failed = () =>
      readFileSync(c.logOf(n), "utf8")
        .split("\n")
        .filter((l) => l.includes('msg="failed to run command"'));
    await waitFor("flanneld to log the failing SubnetAddCommand", 10_000, () =>
      failed().some(
        (l) =>
          l.includes("level=error") &&
          l.includes('error="exit status 2"') &&
          /output="Error: Nexthop has invalid gateway\."/.test(l),
      ),
    );
    await waitFor("flanneld to log the failing SubnetRemoveCommand", 10_000, () =>
      failed().some((l) => l.includes("ip route del") && /output="RTNETLINK answers: No such process"/.test(l)),
    );
    expect(n.daemon?.exitCode).toBeNull();
  });

  it("shuts down cleanly (exit 0) on SIGTERM while a SubnetAddCommand runs", async () => {
    const n = c.nodes[0];
    if (!n) throw new Error("node1 missing");
    const key = `${PREFIX}/10.244.251.0-24`;
    await c.etcd?.put(key, '{"PublicIP":"192.0.2.251","PublicIPv6":null,"BackendType":"extension","BackendData":"x"}');
    await waitFor("node1 to start the slow SubnetAddCommand", 10_000, () => existsSync(join(dir, `slow-${n.ns}`)));
    expect(await c.stopDaemon(n)).toBe(0);
    expect(readFileSync(c.logOf(n), "utf8")).toMatch(/Exiting cleanly/);
    expect(await c.etcd?.del(key)).toBe(1);
    c.startDaemon(n);
    await c.waitReady(n);
  });

  it("a restarted daemon keeps its subnet and runs SubnetAddCommand again for every peer", async () => {
    const n = c.nodes[0];
    if (!n) throw new Error("node1 missing");
    const before = n.subnet;
    const adds = events(n).length;
    expect(await within(15_000, "node1's flanneld to exit on SIGTERM", c.stopDaemon(n), logTail(n))).toBe(0);
    c.startDaemon(n);
    await c.waitReady(n);
    expect(n.subnet).toBe(before);
    await waitFor("node1 to replay its peers", 10_000, () => events(n).length >= adds + 2);
    expect(events(n).slice(adds).sort(), logTail(n)()).toEqual(
      c.nodes
        .filter((m) => m !== n)
        .map((m) => `add ${subnetOf(m.subnet ?? "")} ${m.ip} [${macs.get(m.ns)}]`)
        .sort(),
    );
    const matrix = await within(40_000, "the pod matrix", c.matrix(), logTail(n));
    const bad = matrix.filter(([, , r]) => r !== "ok").map(([a, b, r]) => `${a.name}->${b.name}: ${r}`);
    expect(bad, logTail(n)()).toEqual([]);
  });

  it("a node whose lease is removed runs SubnetRemoveCommand on the others, which drops its route", async () => {
    const gone = c.nodes[2];
    if (!gone?.subnet) throw new Error("node3 missing");
    await c.stopDaemon(gone);
    expect(await c.etcd?.del(`${PREFIX}/${keyOf(gone)}`)).toBe(1);
    for (const n of c.nodes.slice(0, 2)) {
      await waitFor(
        `${n.name} to drop the route to ${gone.subnet}`,
        10_000,
        async () => !(await c.routedSubnets(n)).includes(subnetOf(gone.subnet ?? "")),
      );
      expect(events(n)).toContain(`remove ${subnetOf(gone.subnet)} ${gone.ip} [${macs.get(gone.ns)}]`);
    }
  });
});

describe.runIf(ours)("flanneld cluster: an unsupported Backend.Type", () => {
  // Type overridden through backendConfig: the fixture's own type list only holds supported ones
  const c = new WeftCluster({ nodes: 1, backend: "vxlan", backendConfig: { Type: "ipsec" } });
  afterAll(() => c.teardown(), 60_000);

  it("flanneld exits 1 at once with an error naming the supported types, leasing nothing", async () => {
    const t0 = Date.now();
    await expect(c.start()).rejects.toThrow(/exited 1/);
    const n = c.nodes[0];
    if (!n) throw new Error("node1 missing");
    expect(Date.now() - t0).toBeLessThan(30_000);
    const log = readFileSync(c.logOf(n), "utf8");
    expect(log).toContain(
      '\\"Backend.Type\\" is \\"ipsec\\", which weft does not support: use one of \\"vxlan\\", \\"host-gw\\"',
    );
    expect(log).not.toContain("waiting for the network config");
    expect((await leases(c)).size).toBe(0);
  });
});

const noIpip = ours ? await missingLinkKind("ipip") : undefined;

describe.runIf(ours && noIpip !== undefined)(
  `flanneld cluster: ipip on a kernel without ipip (${noIpip ?? ""})`,
  () => {
    const c = new WeftCluster({ nodes: 3, backend: "ipip" });
    afterAll(() => c.teardown(), 60_000);

    it("flanneld exits 1 at start-up naming the missing kernel support (module ipip), leasing nothing", async () => {
      const t0 = Date.now();
      await expect(c.start()).rejects.toThrow(/exited 1/);
      for (const n of c.nodes) {
        await waitFor(`${n.name}'s flanneld to exit`, 10_000, () => n.daemon?.exitCode != null);
        expect(n.daemon?.exitCode).toBe(1);
        const log = readFileSync(c.logOf(n), "utf8");
        expect(log).toMatch(
          new RegExp(
            String.raw`level=error msg=".*cannot create flannel\.ipip: this kernel has no ipip tunnel support ` +
              String.raw`\(module ipip, CONFIG_NET_IPIP\): load it with ` +
              "`modprobe ipip`",
          ),
        );
        expect(await linkNames(n.ns)).toEqual(["eth0", "lo"]);
      }
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect((await leases(c)).size).toBe(0);
    });
  },
);

describe.runIf(ours && noIpip === undefined)(`flanneld cluster: ipip${noIpip ? ` (skipped: ${noIpip})` : ""}`, () => {
  const c = new WeftCluster({ nodes: 3, backend: "ipip" });
  beforeAll(async () => {
    await c.start();
    await c.addPods(2);
    await c.waitMesh();
  }, 120_000);
  afterAll(() => c.teardown(), 60_000);

  it("leases, publishes BackendType ipip and writes the interface MTU - 20", async () => {
    const all = await leases(c);
    for (const n of c.nodes) {
      expect(n.mtu).toBe("1480");
      expect(all.get(keyOf(n))).toBe(`{"PublicIP":"${n.ip}","PublicIPv6":null,"BackendType":"ipip"}`);
      const [dev] = await ipJson<
        { mtu: number; linkinfo: { info_kind: string; info_data: { local: string; remote: string } } }[]
      >(n.ns, ["-d", "link", "show", "flannel.ipip"]);
      expect(dev?.mtu).toBe(1480);
      expect(dev?.linkinfo.info_data).toMatchObject({ local: n.ip, remote: "any" });
    }
  });

  it("every pod reaches every other pod over TCP", async () => {
    const bad = (await c.matrix()).filter(([, , r]) => r !== "ok").map(([a, b, r]) => `${a.name}->${b.name}: ${r}`);
    expect(bad).toEqual([]);
  });

  it("a node whose lease is removed vanishes from the other nodes' routes", async () => {
    const gone = c.nodes[2];
    if (!gone?.subnet) throw new Error("node3 missing");
    await c.stopDaemon(gone);
    expect(await c.etcd?.del(`${PREFIX}/${keyOf(gone)}`)).toBe(1);
    for (const n of c.nodes.slice(0, 2)) {
      await waitFor(
        `${n.name} to drop the route to ${gone.subnet}`,
        10_000,
        async () => !(await c.routedSubnets(n)).includes(subnetOf(gone.subnet ?? "")),
      );
    }
  });
});
