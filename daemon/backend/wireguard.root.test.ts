// The wireguard backend on the kernel of this machine, which has no WireGuard module: two node
// namespaces, each running the backend through daemon/testing/wireguard-driver.ts (bun) in a private
// mount namespace for /var/run/wireguard, so each gets its own wireguard-go and UAPI socket. A pod
// namespace per node; traffic between pods is checked to cross the underlay only as WireGuard UDP.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatePresharedKey, generatePrivateKey, publicKeyOf } from "../../linux/wireguard/key.ts";
import {
  childPids,
  parseWgDump,
  PRIVATE_WIREGUARD_RUN,
  type WgShowDevice,
} from "../../netns-fixtures/topology/cluster.ts";
import { REPO_ROOT } from "../../netns-fixtures/oracles/reference.ts";
import { ipJson, run, runIn, waitFor } from "../../netns-fixtures/topology/sh.ts";
import { EchoServer, tcpProbe } from "../../netns-fixtures/topology/tcp.ts";
import { Topology } from "../../netns-fixtures/topology/topology.ts";

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const DRIVER = join(import.meta.dirname, "..", "testing", "wireguard-driver.ts");

interface Node {
  ns: string;
  pod: string;
  ip: string;
  subnet: string;
  podIp: string;
  privateKey: string;
  publicKey: string;
  keyFile: string;
  driver?: ChildProcess;
  lines: Record<string, unknown>[];
}

const peerOf = (n: Node) => ({ subnet: n.subnet, ip: n.ip, key: n.publicKey });

async function nextEvent(n: Node, event: string, ms = 15_000): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await waitFor(`${event} from the driver in ${n.ns}`, ms, () => {
    const i = n.lines.findIndex((l) => l["event"] === event);
    if (i >= 0) found = n.lines.splice(i, 1)[0];
    if (n.driver?.exitCode != null && !found) throw new Error(`driver in ${n.ns} exited ${n.driver.exitCode}`);
    return found !== undefined;
  });
  return found ?? {};
}

async function wgShow(n: Node): Promise<WgShowDevice | undefined> {
  const r = await run("nsenter", ["-t", String(n.driver?.pid), "-m", "-n", "wg", "show", "all", "dump"], {
    allowFail: true,
  });
  return parseWgDump(r.stdout).find((d) => d.name === "flannel-wg");
}

/** Processes started by the driver (its wireguard-go). */
const childrenOf = childPids;

/** Packets counted by each rule of the raw PREROUTING chain, by rule comment. */
async function counters(ns: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const r = await runIn(ns, "iptables", ["-t", "raw", "-L", "PREROUTING", "-v", "-x", "-n"]);
  for (const line of r.stdout.split("\n")) {
    const m = /^\s*(\d+)\s+\d+.*\/\* (\S+) \*\//.exec(line);
    if (m?.[2]) out[m[2]] = Number(m[1]);
  }
  return out;
}

/** Send `token` over TCP from a pod to an echo server and wait for it back. */
async function sendToken(fromNs: string, ip: string, token: string): Promise<string> {
  const js = [
    `const c=require("node:net").connect(7777,${JSON.stringify(ip)},()=>c.write(${JSON.stringify(token)}));`,
    `let g="";c.on("data",d=>{g+=d;if(g.length>=${token.length}){process.stdout.write(g);process.exit(0)}});`,
    `c.setTimeout(5000,()=>{process.stdout.write("timeout");process.exit(3)});`,
    `c.on("error",e=>{process.stdout.write(String(e.code));process.exit(4)})`,
  ].join("");
  return (await runIn(fromNs, process.execPath, ["-e", js], { allowFail: true, timeoutMs: 10_000 })).stdout;
}

describe("wireguard backend on this kernel (wireguard-go)", () => {
  const topo = new Topology();
  const dir = mkdtempSync(join(tmpdir(), "weft-wg-root-"));
  const psk = generatePresharedKey();
  const nodes: Node[] = [];
  const servers: EchoServer[] = [];

  function startDriver(n: Node, peers: Node[]): void {
    const plan = {
      dev: "eth0",
      ip: n.ip,
      own: n.subnet,
      keyFile: n.keyFile,
      backend: { PSK: psk, PersistentKeepaliveInterval: 25 },
      peers: peers.map(peerOf),
    };
    n.lines = [];
    n.driver = spawn("ip", ["netns", "exec", n.ns, ...PRIVATE_WIREGUARD_RUN, BUN, DRIVER, JSON.stringify(plan)], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    createInterface({ input: n.driver.stdout as NodeJS.ReadableStream }).on("line", (l) =>
      n.lines.push(JSON.parse(l) as Record<string, unknown>),
    );
    n.driver.stderr?.on("data", (d: Buffer) => writeFileSync(join(dir, `${n.ns}.log`), d, { flag: "a" }));
  }

  beforeAll(async () => {
    const under = await topo.underlay(2);
    for (const [i, u] of under.entries()) {
      const k = i + 1;
      const pod = await topo.netns(`pod${k}`);
      await run("ip", ["-n", u.ns, "link", "add", "veth0", "type", "veth", "peer", "name", "eth0", "netns", pod]);
      await run("ip", ["-n", u.ns, "addr", "add", `10.244.${k}.1/24`, "dev", "veth0"]);
      await run("ip", ["-n", u.ns, "link", "set", "veth0", "up"]);
      await run("ip", ["-n", pod, "addr", "add", `10.244.${k}.2/24`, "dev", "eth0"]);
      await run("ip", ["-n", pod, "link", "set", "eth0", "up"]);
      await run("ip", ["-n", pod, "route", "add", "default", "via", `10.244.${k}.1`]);
      const privateKey = generatePrivateKey();
      const keyFile = join(dir, `wgkey${k}`);
      writeFileSync(keyFile, privateKey, { mode: 0o400 });
      nodes.push({
        ns: u.ns,
        pod,
        ip: u.ip,
        subnet: `10.244.${k}.0/24`,
        podIp: `10.244.${k}.2`,
        privateKey,
        publicKey: publicKeyOf(privateKey),
        keyFile,
        lines: [],
      });
    }
    const [a, b] = nodes;
    if (!a || !b) throw new Error("nodes missing");
    startDriver(a, [b]);
    startDriver(b, [a]);
    for (const n of nodes) await nextEvent(n, "ready");
    for (const n of nodes) servers.push(await EchoServer.start(n.pod, n.podIp));
  }, 60_000);

  afterAll(async () => {
    for (const s of servers) s.stop();
    for (const n of nodes) {
      const pid = n.driver?.pid;
      const kids = pid && n.driver?.exitCode === null ? childrenOf(pid) : [];
      n.driver?.kill("SIGKILL");
      for (const k of kids) process.kill(k, "SIGKILL");
    }
    await topo.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const node = (i: number): Node => {
    const n = nodes[i];
    if (!n) throw new Error(`node ${i} missing`);
    return n;
  };

  it("derives the same public key as wg pubkey", async () => {
    const n = node(0);
    expect((await run("wg", ["pubkey"], { input: n.privateKey })).stdout.trim()).toBe(n.publicKey);
  });

  it("runs flannel-wg as a wireguard-go TUN: MTU 1420, the subnet's /32, a route for the cluster network", async () => {
    const n = node(0);
    const [link] = await ipJson<{ mtu: number; flags: string[]; linkinfo?: { info_kind: string } }[]>(n.ns, [
      "-d",
      "link",
      "show",
      "flannel-wg",
    ]);
    expect(link?.linkinfo?.info_kind).toBe("tun");
    expect(link?.mtu).toBe(1420);
    expect(link?.flags).toContain("UP");
    const [addr] = await ipJson<{ addr_info: { local: string; prefixlen: number }[] }[]>(n.ns, [
      "-4",
      "addr",
      "show",
      "flannel-wg",
    ]);
    expect(addr?.addr_info.map((x) => `${x.local}/${x.prefixlen}`)).toEqual(["10.244.1.0/32"]);
    const routes = await ipJson<{ dst: string; dev: string; scope?: string }[]>(n.ns, [
      "route",
      "show",
      "dev",
      "flannel-wg",
    ]);
    expect(routes).toEqual([expect.objectContaining({ dst: "10.244.0.0/16", scope: "link" })]);
  });

  it("configures the device over its UAPI socket: port, key, peer endpoint, allowed IPs, PSK, keepalive", async () => {
    const [a, b] = [node(0), node(1)];
    const dev = await wgShow(a);
    expect(dev).toMatchObject({ publicKey: a.publicKey, listenPort: 51820 });
    expect(dev?.peers).toEqual([
      expect.objectContaining({
        publicKey: b.publicKey,
        presharedKey: psk,
        endpoint: "192.0.2.12:51820",
        allowedIps: ["10.244.2.0/24"],
        keepalive: "25",
      }),
    ]);
  });

  it("carries pod traffic encrypted: the underlay sees WireGuard UDP, never pod addresses or payload", async () => {
    const [a, b] = [node(0), node(1)];
    const token = `weft-clear-${Date.now()}`;
    const rule = (comment: string, m: string[]) =>
      runIn(b.ns, "iptables", ["-t", "raw", "-A", "PREROUTING", ...m, "-m", "comment", "--comment", comment]);
    await rule("wg-udp", ["-i", "eth0", "-p", "udp", "--dport", "51820"]);
    await rule("plain-pod-ip", ["-i", "eth0", "-s", "10.244.0.0/16"]);
    await rule("clear-on-underlay", ["-i", "eth0", "-m", "string", "--string", token, "--algo", "bm"]);
    await rule("clear-on-flannel-wg", ["-i", "flannel-wg", "-m", "string", "--string", token, "--algo", "bm"]);
    expect(await sendToken(a.pod, b.podIp, token)).toBe(token);
    const c = await counters(b.ns);
    expect(c["wg-udp"]).toBeGreaterThan(0);
    expect(c["clear-on-flannel-wg"]).toBeGreaterThan(0);
    expect(c["plain-pod-ip"]).toBe(0);
    expect(c["clear-on-underlay"]).toBe(0);
    expect((await wgShow(a))?.peers[0]?.latestHandshake).toBeGreaterThan(0);
  });

  it("a removed lease removes the peer (traffic stops), an added one brings it back", async () => {
    const [a, b] = [node(0), node(1)];
    a.driver?.stdin?.write(`${JSON.stringify({ removed: peerOf(b) })}\n`);
    await nextEvent(a, "applied");
    expect((await wgShow(a))?.peers).toEqual([]);
    expect(await tcpProbe(a.pod, b.podIp)).not.toBe("ok");
    a.driver?.stdin?.write(`${JSON.stringify({ added: peerOf(b) })}\n`);
    await nextEvent(a, "applied");
    expect((await wgShow(a))?.peers.map((p) => p.publicKey)).toEqual([b.publicKey]);
    expect(await tcpProbe(a.pod, b.podIp)).toBe("ok");
  });

  it("restarts a killed wireguard-go and rebuilds the device with its key, address, route and peer", async () => {
    const [a, b] = [node(0), node(1)];
    const [wgo] = childrenOf(a.driver?.pid ?? 0);
    if (!wgo) throw new Error("no wireguard-go child");
    const before = (await ipJson<{ ifindex: number }[]>(a.ns, ["link", "show", "flannel-wg"]))[0]?.ifindex;
    process.kill(wgo, "SIGKILL");
    await waitFor("flannel-wg to be recreated with its peer", 15_000, async () => {
      const dev = await wgShow(a);
      return dev?.publicKey === a.publicKey && dev.peers.some((p) => p.publicKey === b.publicKey);
    });
    const after = (await ipJson<{ ifindex: number }[]>(a.ns, ["link", "show", "flannel-wg"]))[0]?.ifindex;
    expect(after).not.toBe(before);
    expect(childrenOf(a.driver?.pid ?? 0)).not.toContain(wgo);
    await waitFor("the route on the new device", 5000, async () =>
      (await ipJson<{ dst: string }[]>(a.ns, ["route", "show", "dev", "flannel-wg"])).some(
        (r) => r.dst === "10.244.0.0/16",
      ),
    );
    expect(await tcpProbe(a.pod, b.podIp)).toBe("ok");
    expect(readFileSync(join(dir, `${a.ns}.log`), "utf8")).toMatch(/userspace WireGuard process exited/);
  });

  it("removes the device and stops wireguard-go when stopped, as flanneld does", async () => {
    const b = node(1);
    const [wgo] = childrenOf(b.driver?.pid ?? 0);
    b.driver?.kill("SIGTERM");
    const stopped = await nextEvent(b, "stopped");
    expect(stopped["linkLeft"]).toBe(false);
    expect((await ipJson<unknown[]>(b.ns, ["link", "show"])).length).toBeGreaterThan(0);
    expect(await run("ip", ["-n", b.ns, "link", "show", "flannel-wg"], { allowFail: true })).toMatchObject({
      exitCode: 1,
    });
    expect(wgo && existsPid(wgo)).toBe(false);
  });
});

function existsPid(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
