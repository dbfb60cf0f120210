// The udp backend's kernel side on the real kernel: two nodes on an underlay, each running
// testing/udp-driver.ts (flannel0 + UDP socket + forwarder worker, under bun) in its netns; checked
// with iproute2, ping and TCP between the nodes' flannel0 addresses.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../../netns-fixtures/oracles/reference.ts";
import { ipJson, run, runIn } from "../../../netns-fixtures/topology/sh.ts";
import { EchoServer, tcpProbe } from "../../../netns-fixtures/topology/tcp.ts";
import { Topology, type NodeSpec } from "../../../netns-fixtures/topology/topology.ts";

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const DRIVER = join(REPO_ROOT, "daemon", "testing", "udp-driver.ts");

interface Stats {
  readonly txPackets: number;
  readonly rxPackets: number;
  readonly tunReads: number;
  readonly tunWrites: number;
  readonly noRoute: number;
  readonly unreachableSent: number;
  readonly routes: number;
  readonly sendErrors: number;
  readonly writeErrors: number;
}

/** One node's driver: JSON lines in and out. */
class Driver {
  private readonly lines: string[] = [];
  private waiters: (() => void)[] = [];
  ready: { name: string; index: number; offloads: string } | undefined;
  exited = false;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on("line", (l) => {
      this.lines.push(l);
      for (const w of this.waiters.splice(0)) w();
    });
    child.on("exit", () => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async start(ns: string, spec: Record<string, unknown>, env: Record<string, string> = {}): Promise<Driver> {
    const child = spawn("ip", ["netns", "exec", ns, BUN, DRIVER, JSON.stringify(spec)], {
      env: { ...process.env, ...env },
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const d = new Driver(child);
    const first = await d.next().catch((e: unknown) => {
      throw new Error(`udp driver in ${ns} did not start: ${String(e)}\n${err}`);
    });
    d.ready = (JSON.parse(first) as { ready: Driver["ready"] }).ready;
    return d;
  }

  async next(ms = 15_000): Promise<string> {
    const end = Date.now() + ms;
    while (this.lines.length === 0) {
      if (this.exited) throw new Error("driver exited");
      if (Date.now() > end) throw new Error("driver did not answer");
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
    return this.lines.shift() ?? "";
  }

  async command(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
    return JSON.parse(await this.next()) as Record<string, unknown>;
  }

  async stats(): Promise<Stats> {
    return (await this.command({ stats: true }))["stats"] as Stats;
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}

const spec = (i: number, peers: number[]) => ({
  name: "flannel0",
  address: `10.244.${i}.0/32`,
  network: "10.244.0.0/16",
  mtu: 1472,
  bindIp: `192.0.2.${10 + i}`,
  port: 8285,
  routes: peers.map((p) => [`10.244.${p}.0/24`, `192.0.2.${10 + p}`]),
});

// Sends `mib` MiB of a deterministic byte stream and compares a hash of what arrived.
const SINK = `
const h = require("node:crypto").createHash("sha256");
let n = 0;
require("node:net")
  .createServer((c) => {
    c.on("data", (d) => { h.update(d); n += d.length; });
    c.on("end", () => { console.log(JSON.stringify({ n, sha: h.digest("hex") })); process.exit(0); });
  })
  .listen(Number(process.argv[1]), process.argv[2], () => console.log("ready"));
`;
const SOURCE = `
const [port, host, mib] = process.argv.slice(1);
const h = require("node:crypto").createHash("sha256");
const chunk = Buffer.alloc(1 << 20);
const c = require("node:net").connect(Number(port), host, async () => {
  for (let i = 0; i < Number(mib); i++) {
    for (let j = 0; j < chunk.length; j++) chunk[j] = (j * 131 + i * 7 + (j >> 9)) & 255;
    h.update(chunk);
    if (!c.write(chunk)) await new Promise((r) => c.once("drain", r));
  }
  c.end(() => console.log(JSON.stringify({ n: Number(mib) << 20, sha: h.digest("hex") })));
});
c.on("error", (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(1); });
`;

async function bulk(fromNs: string, toNs: string, ip: string, mib: number): Promise<{ sent: string; got: string }> {
  const sink = spawn("ip", ["netns", "exec", toNs, process.execPath, "-e", SINK, "7070", ip]);
  let got = "";
  const gotDone = new Promise<void>((resolve) => {
    createInterface({ input: sink.stdout }).on("line", (l) => {
      if (l !== "ready") got = l;
    });
    sink.on("exit", () => resolve());
  });
  await new Promise<void>((resolve) => sink.stdout.once("data", () => resolve()));
  const r = await runIn(fromNs, process.execPath, ["-e", SOURCE, "7070", ip, String(mib)], {
    timeoutMs: 60_000,
    allowFail: true,
  });
  await Promise.race([gotDone, new Promise((r2) => setTimeout(r2, 10_000))]);
  sink.kill("SIGKILL");
  return { sent: r.stdout.trim(), got };
}

describe("udp backend data path on the kernel", () => {
  let topo: Topology;
  let n1: NodeSpec;
  let n2: NodeSpec;
  const drivers: Driver[] = [];
  const servers: EchoServer[] = [];

  beforeEach(async () => {
    topo = new Topology();
    const nodes = await topo.underlay(2);
    if (!nodes[0] || !nodes[1]) throw new Error("underlay");
    [n1, n2] = [nodes[0], nodes[1]];
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) s.stop();
    for (const d of drivers.splice(0)) d.kill();
    await topo.cleanup();
  });

  async function pair(env: Record<string, string> = {}): Promise<[Driver, Driver]> {
    const a = await Driver.start(n1.ns, spec(1, [2]), env);
    const b = await Driver.start(n2.ns, spec(2, [1]), env);
    drivers.push(a, b);
    return [a, b];
  }

  it("creates flannel0 as flannel: subnet /32, MTU underlay - 28, up, the network into it, UDP 8285", async () => {
    const [a] = await pair();
    expect(a.ready?.name).toBe("flannel0");
    expect(a.ready?.offloads).toBe("TUN TSO+csum, UDP GSO, UDP GRO");
    const [link] = await ipJson<{ mtu: number; flags: string[]; link_type: string }[]>(n1.ns, [
      "link",
      "show",
      "flannel0",
    ]);
    expect(link?.mtu).toBe(1472);
    expect(link?.flags).toContain("UP");
    expect(link?.link_type).toBe("none");
    const addrs = await ipJson<{ addr_info: { local: string; prefixlen: number; family: string }[] }[]>(n1.ns, [
      "addr",
      "show",
      "flannel0",
    ]);
    expect(addrs[0]?.addr_info.filter((x) => x.family === "inet").map((x) => `${x.local}/${x.prefixlen}`)).toEqual([
      "10.244.1.0/32",
    ]);
    const routes = await ipJson<{ dst: string; scope?: string; gateway?: string }[]>(n1.ns, [
      "route",
      "show",
      "dev",
      "flannel0",
    ]);
    expect(routes).toEqual([expect.objectContaining({ dst: "10.244.0.0/16" })]);
    expect(routes[0]?.gateway).toBeUndefined();
    expect(routes[0]?.scope ?? "global").toBe("global");
    const ss = await runIn(n1.ns, "ss", ["-Hnulp"]);
    expect(ss.stdout).toMatch(/192\.0\.2\.11:8285/);
  });

  for (const mode of ["on", "off"] as const) {
    it(`carries TCP between the nodes, 24 MiB intact, offloads ${mode}`, async () => {
      const [a, b] = await pair({ WEFT_UDP_OFFLOAD: mode });
      if (mode === "off") expect(a.ready?.offloads).toBe("none");
      servers.push(await EchoServer.start(n2.ns, "10.244.2.0"));
      expect(await tcpProbe(n1.ns, "10.244.2.0")).toBe("ok");
      const r = await bulk(n1.ns, n2.ns, "10.244.2.0", 24);
      expect(r.got).not.toBe("");
      expect(JSON.parse(r.got)).toEqual(JSON.parse(r.sent));
      const sa = await a.stats();
      const sb = await b.stats();
      expect(sa.txPackets).toBeGreaterThan(16_000); // 24 MiB in segments of at most 1432 bytes
      expect(sb.rxPackets).toBeGreaterThanOrEqual(sa.txPackets - 200);
      expect(sa.sendErrors + sb.writeErrors).toBe(0);
      // with offloads the kernel hands over super-packets and takes merged ones: far fewer syscalls
      if (mode === "on") {
        expect(sa.tunReads).toBeLessThan(sa.txPackets / 4);
        expect(sb.tunWrites).toBeLessThan(sb.rxPackets / 4);
      } else expect(sa.tunReads).toBeGreaterThanOrEqual(sa.txPackets);
    });
  }

  /** A pod behind node 1: 10.244.1.5/24 on a veth, the node's side 10.244.1.1 as its gateway. */
  async function pod(): Promise<string> {
    const ns = await topo.netns("p1");
    await run("ip", ["-n", n1.ns, "link", "add", "vp1", "type", "veth", "peer", "name", "eth0", "netns", ns]);
    await run("ip", ["-n", n1.ns, "addr", "add", "10.244.1.1/24", "dev", "vp1"]);
    await run("ip", ["-n", n1.ns, "link", "set", "vp1", "up"]);
    await run("ip", ["-n", ns, "addr", "add", "10.244.1.5/24", "dev", "eth0"]);
    await run("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    await run("ip", ["-n", ns, "route", "add", "default", "via", "10.244.1.1"]);
    return ns;
  }

  it("answers what no lease covers with ICMP net unreachable from flannel0: a pod's connect fails fast", async () => {
    const [a] = await pair();
    const p = await pod();
    const trace = await runIn(p, "busybox", ["traceroute", "-n", "-m", "2", "-w", "2", "-q", "1", "10.244.9.1"], {
      allowFail: true,
    });
    expect(trace.stdout).toMatch(/ 2 +10\.244\.1\.0 .*!N/);
    const t0 = Date.now();
    expect(await tcpProbe(p, "10.244.9.1")).toBe("ENETUNREACH");
    expect(Date.now() - t0).toBeLessThan(2500);
    const st = await a.stats();
    expect(st.noRoute).toBeGreaterThanOrEqual(2);
    expect(st.unreachableSent).toBeGreaterThanOrEqual(2);
    // and the pod still reaches the peer the table has
    servers.push(await EchoServer.start(n2.ns, "10.244.2.0"));
    expect(await tcpProbe(p, "10.244.2.0")).toBe("ok");
  });

  it("decrements the TTL at both ends, as flannel's proxy does: TTL 2 dies, TTL 3 arrives", async () => {
    await pair();
    expect(
      (await runIn(n1.ns, "ping", ["-c", "1", "-W", "2", "-t", "2", "10.244.2.0"], { allowFail: true })).exitCode,
    ).not.toBe(0);
    const ok = await runIn(n1.ns, "ping", ["-c", "1", "-W", "2", "-t", "3", "10.244.2.0"], { allowFail: true });
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toMatch(/ttl=62/); // the reply crosses both forwarders too
  });

  it("takes route table updates without a restart: a removed peer is unreachable, re-added it works", async () => {
    const [a] = await pair();
    servers.push(await EchoServer.start(n2.ns, "10.244.2.0"));
    expect(await tcpProbe(n1.ns, "10.244.2.0")).toBe("ok");
    expect(await a.command({ routes: [] })).toEqual({ routes: 0 });
    expect((await a.stats()).routes).toBe(0);
    expect(await tcpProbe(n1.ns, "10.244.2.0")).not.toBe("ok");
    await a.command({ routes: [["10.244.2.0/24", "192.0.2.12"]] });
    expect(await tcpProbe(n1.ns, "10.244.2.0")).toBe("ok");
  });

  it("stopping closes flannel0: the kernel removes the device with its address and route", async () => {
    const [a] = await pair();
    expect(await a.command({ stop: true })).toEqual({ stopped: true });
    const links = await ipJson<{ ifname: string }[]>(n1.ns, ["link", "show"]);
    expect(links.map((l) => l.ifname)).not.toContain("flannel0");
    const routes = await ipJson<{ dst: string }[]>(n1.ns, ["route", "show", "root", "10.244.0.0/16"]);
    expect(routes).toEqual([]);
  });

  it("fails with a message naming the cause when flannel0 is deleted behind its back", async () => {
    const [a] = await pair();
    await run("ip", ["-n", n1.ns, "link", "del", "flannel0"]);
    expect(JSON.parse(await a.next(5000))).toEqual({
      error: "udp forwarder failed: reading the TUN device failed: EBADFD (was it deleted?)",
    });
  });

  it("refuses a second forwarder on the same device or port with a message saying what to do", async () => {
    await pair();
    const again = Driver.start(n1.ns, spec(1, [2]));
    await expect(again).rejects.toThrow(/flannel0 is held open by another process \(is another flanneld running\?\)/);
    const port = Driver.start(n1.ns, { ...spec(1, [2]), name: "flannel1" });
    await expect(port).rejects.toThrow(/UDP 192\.0\.2\.11:8285 is already in use .*"Backend\.Port"/);
    // nothing leaked by the failed start: its device went with its descriptor
    const links = await ipJson<{ ifname: string }[]>(n1.ns, ["link", "show"]);
    expect(links.map((l) => l.ifname)).not.toContain("flannel1");
  });
});
