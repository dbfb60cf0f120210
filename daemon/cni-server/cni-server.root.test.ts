// flanneld's CNI server and the flannel exec's relay, in namespaces: the exec hands its call to the
// server (driver: daemon/testing/cni-server-driver.ts) with the pod netns as an fd and prints the
// answer; when no server takes the call the exec runs it itself; hostile clients never stop the server.
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { callPlugin, type PluginOutcome } from "../../conformance/exec.ts";
import { WEFT_PLUGIN_DIR, requireBuilt } from "../../netns-fixtures/oracles/reference.ts";
import { ipJson, run, runIn } from "../../netns-fixtures/topology/sh.ts";
import { Topology } from "../../netns-fixtures/topology/topology.ts";
import { CniServerProcess } from "../testing/cni-server-process.ts";

const BUN = join(import.meta.dirname, "..", "..", "node_modules", ".bin", "bun");
const RAW = join(import.meta.dirname, "..", "testing", "cni-raw-client.ts");
const SUBNET_ENV =
  "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.9.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";

describe("flanneld's CNI server and the flannel exec's relay", () => {
  let topo: Topology;
  let node: string;
  let pods: string[];
  let dir: string;
  let socket: string;
  const servers: CniServerProcess[] = [];
  const bridge = () => `${topo.prefix}br`;

  beforeEach(async () => {
    requireBuilt();
    topo = new Topology();
    node = await topo.netns("node");
    pods = [await topo.netns("pod1"), await topo.netns("pod2")];
    dir = mkdtempSync(join(tmpdir(), `${topo.prefix}-cnisrv-`));
    socket = join(dir, "cni.sock");
    writeFileSync(join(dir, "subnet.env"), SUBNET_ENV);
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop("SIGKILL");
    await topo.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const serve = async (
    ...a: Parameters<typeof CniServerProcess.start> extends [string, string, ...infer R] ? R : never
  ) => {
    const s = await CniServerProcess.start(node, socket, ...a);
    servers.push(s);
    return s;
  };
  const conf = (extra: Record<string, unknown> = {}) => ({
    cniVersion: "1.1.0",
    name: "cbr0",
    type: "flannel",
    subnetFile: join(dir, "subnet.env"),
    dataDir: join(dir, "flannel"),
    ipam: { dataDir: join(dir, "ipam") },
    delegate: { bridge: bridge(), isDefaultGateway: true },
    ...extra,
  });
  const flannel = (
    command: string,
    o: { pod?: number; cid?: string; env?: Record<string, string>; c?: unknown } = {},
  ) =>
    callPlugin({
      plugin: join(WEFT_PLUGIN_DIR, "flannel"),
      command,
      conf: o.c ?? conf(),
      node,
      netns: `/run/netns/${pods[o.pod ?? 0]}`,
      path: WEFT_PLUGIN_DIR,
      containerID: o.cid ?? "cid-1",
      extraEnv: { WEFT_TRACE: "1", ...o.env },
    });
  /** Whether the exec ran the call itself (its trace says so) rather than relaying it. */
  const ranInProcess = (r: PluginOutcome) => r.stderr.includes("flannel: runs in-process");
  const podLinks = async (i: number) =>
    (await ipJson<{ ifname: string }[]>(pods[i], ["link", "show"])).map((l) => l.ifname).sort();
  const reservations = () => {
    const d = join(dir, "ipam", "cbr0");
    return existsSync(d) ? readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
  };
  const hostVeths = async () =>
    (await ipJson<{ ifname: string }[]>(node, ["link", "show", "type", "veth"])).map((l) => l.ifname);
  const raw = async (...args: string[]) => {
    const r = await runIn(node, BUN, [RAW, args[0] ?? "", socket, ...args.slice(1)], {
      env: { CNI_PATH: WEFT_PLUGIN_DIR },
    });
    return JSON.parse(r.stdout.trim().split("\n").pop() ?? "null") as unknown;
  };

  it("runs ADD, CHECK, STATUS, GC and DEL in the daemon, and prints what the exec would have printed", async () => {
    const server = await serve();
    // a first pod makes the bridge and pins its MAC, so the two ADDs compared below are alike
    expect((await flannel("ADD", { cid: "warm-up", pod: 1, env: { WEFT_CNI_SOCKET: "" } })).code).toBe(0);
    const args = { CNI_ARGS: "IgnoreUnknown=1;IP=10.244.9.50;MAC=0a:58:0a:f4:09:32" };
    const add = await flannel("ADD", { env: args });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(ranInProcess(add)).toBe(false);
    expect(await podLinks(0)).toEqual(["eth0", "lo"]);
    const addr = await ipJson<{ addr_info: { local: string }[] }[]>(pods[0], ["addr", "show", "eth0"]);
    expect(addr[0]?.addr_info.map((a) => a.local)).toContain("10.244.9.50");
    for (const cmd of ["CHECK", "STATUS", "GC"]) {
      const r = await flannel(cmd, {
        c: {
          ...conf(),
          ...(cmd === "GC" ? { "cni.dev/valid-attachments": [{ containerID: "cid-1", ifname: "eth0" }] } : {}),
        },
      });
      expect(r.code, `${cmd}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    const del = await flannel("DEL");
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(server.calls).toEqual(["ADD 0", "CHECK 0", "STATUS 0", "GC 0", "DEL 0"]);

    // the same ADD run by the exec itself: the same bytes but for the random host veth name
    const local = await flannel("ADD", { env: { ...args, WEFT_CNI_SOCKET: "" } });
    expect(ranInProcess(local)).toBe(true);
    // the host end of the veth pair has a random name and a kernel-made MAC: nothing else may differ
    const veth = (s: string) => {
      const r = JSON.parse(s) as { interfaces: { name: string; mac: string }[] };
      const v = r.interfaces.find((i) => i.name.startsWith("veth"));
      return v ? s.replaceAll(v.name, "<veth>").replaceAll(v.mac, "<veth mac>") : s;
    };
    expect(veth(local.stdout)).toBe(veth(add.stdout));
    expect(server.calls).toHaveLength(5);
  });

  it("answers errors byte for byte as the exec does", async () => {
    await serve();
    rmSync(join(dir, "subnet.env"));
    const relayed = await flannel("ADD");
    const local = await flannel("ADD", { env: { WEFT_CNI_SOCKET: "" } });
    expect(relayed.code).toBe(1);
    expect(relayed.json?.["code"]).toBe(11);
    expect(relayed.stdout).toBe(local.stdout);
    writeFileSync(join(dir, "subnet.env"), SUBNET_ENV);
    const bad = { ...conf(), delegate: { name: "x" } };
    const relayedBad = await flannel("ADD", { c: bad });
    const localBad = await flannel("ADD", { c: bad, env: { WEFT_CNI_SOCKET: "" } });
    expect(relayedBad.json?.["code"]).toBe(7);
    expect(relayedBad.stdout).toBe(localBad.stdout);
  });

  it("refuses a pod netns that is the node's own before changing anything, as the exec does", async () => {
    await serve();
    const own = await callPlugin({
      plugin: join(WEFT_PLUGIN_DIR, "flannel"),
      command: "ADD",
      conf: conf(),
      node,
      netns: `/run/netns/${node}`,
      path: WEFT_PLUGIN_DIR,
      containerID: "cid-own",
    });
    expect(own.code).toBe(1);
    expect(own.json?.["code"]).toBe(8);
    expect(reservations()).toEqual([]);
  });

  it("runs the call in the exec when there is no daemon, a stale socket, a refusal, or no offer in time", async () => {
    const ok = async (label: string, cid: string) => {
      const r = await flannel("ADD", { cid, pod: 0, env: { CNI_IFNAME: "eth0" } });
      expect(r.code, `${label}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(ranInProcess(r), label).toBe(true);
      const del = await flannel("DEL", { cid, env: { WEFT_CNI_SOCKET: "" } });
      expect(del.code).toBe(0);
      return r;
    };
    await ok("no socket", "c-none");
    const dead = await serve();
    await dead.stop("SIGKILL");
    expect(existsSync(socket)).toBe(true);
    await ok("stale socket", "c-stale");
    rmSync(socket);
    const refuser = await serve("refuse");
    await ok("refusal", "c-refused");
    await refuser.stop("SIGKILL");
    rmSync(socket);
    await serve("silent");
    const t0 = performance.now();
    await ok("no offer", "c-silent");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1400);
  });

  it("refuses calls at once while the daemon's main thread is stuck, and takes them again after", async () => {
    const stuck = await serve("serve", { stallMs: 6000 });
    // the stall starts 200 ms after the server listens; its heartbeat is stale 1.5 s later
    await new Promise((r) => setTimeout(r, 2500));
    const t0 = performance.now();
    const r = await flannel("ADD", { cid: "c-stuck" });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(ranInProcess(r)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(1400);
    expect((await flannel("DEL", { cid: "c-stuck", env: { WEFT_CNI_SOCKET: "" } })).code).toBe(0);
    await new Promise((r) => setTimeout(r, 4500));
    const later = await flannel("ADD", { cid: "c-later" });
    expect(ranInProcess(later)).toBe(false);
    expect(stuck.calls).toEqual(["ADD 0"]);
  });

  it("never runs a call twice: a daemon that took it and hung up is CNI error 11; the retry works", async () => {
    const dropper = await serve("drop-after-go");
    const r = await flannel("ADD");
    expect(r.code).toBe(1);
    expect(r.json?.["code"]).toBe(11);
    expect(ranInProcess(r)).toBe(false);
    expect(await podLinks(0)).toEqual(["lo"]);
    expect(dropper.stdout).toContain("took a call and hung up");
    await dropper.stop("SIGKILL");
    rmSync(socket);
    await serve();
    const retry = await flannel("ADD");
    expect(retry.code, retry.stdout + retry.stderr).toBe(0);
    expect((await flannel("DEL")).code).toBe(0);
    expect(reservations()).toEqual([]);
  });

  it("keeps ADD and DEL idempotent across a daemon killed mid-call: the retries leave nothing", async () => {
    // as a runtime does: a failed ADD is followed by DEL, a failed DEL is retried until it succeeds
    const retryDel = async (cid: string) => {
      for (let i = 0; i < 5; i++) {
        const s = await serve();
        const r = await flannel("DEL", { cid });
        await s.stop("SIGKILL");
        rmSync(socket, { force: true });
        if (r.code === 0) return;
      }
      throw new Error(`DEL ${cid} never succeeded`);
    };
    let killedMidCall = 0;
    for (let round = 0; round < 8; round++) {
      const cid = `kill-${round}`;
      for (const cmd of ["ADD", "DEL"]) {
        const s = await serve();
        const call = flannel(cmd, { cid });
        await new Promise((r) => setTimeout(r, 2 + ((round * 7) % 25)));
        await s.stop("SIGKILL");
        rmSync(socket, { force: true });
        const r = await call;
        const code = r.code === 0 ? 0 : r.json?.["code"];
        // the daemon finished before the kill, or the exec answered 11: the call was the daemon's
        expect([0, 11], `${cmd} ${cid}: ${r.stdout}`).toContain(code);
        if (code === 11) killedMidCall++;
        if (code !== 0) {
          await retryDel(cid);
          break;
        }
      }
      expect(await podLinks(0)).toEqual(["lo"]);
    }
    expect(killedMidCall).toBeGreaterThan(0);
    expect(reservations()).toEqual([]);
    expect(await hostVeths()).toEqual([]);
    expect(existsSync(join(dir, "flannel")) ? readdirSync(join(dir, "flannel")) : []).toEqual([]);
  });

  it("serves only root: another user's connection is refused", async () => {
    await serve();
    chmodSync(dir, 0o755);
    chmodSync(socket, 0o666);
    const env = JSON.stringify({ CNI_COMMAND: "STATUS", CNI_PATH: WEFT_PLUGIN_DIR });
    const r = await runIn(node, "setpriv", [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      BUN,
      RAW,
      "call",
      socket,
      env,
      JSON.stringify(conf()),
    ]);
    expect(JSON.parse(r.stdout) as unknown).toEqual({ refused: expect.stringMatching(/only root may call/) });
  });

  it("survives malformed frames, silent clients and oversized requests, and still serves", async () => {
    await serve("serve", { readMs: 400 });
    const tally = (await raw("garbage", "7", "120")) as { refused: number; closed: number; other: number };
    expect(tally.other).toBe(0);
    expect(tally.refused + tally.closed).toBe(120);
    expect(tally.refused).toBeGreaterThan(60);
    const silent = (await raw("silent", "5000")) as { closed: boolean; afterMs: number };
    expect(silent.closed).toBe(true);
    expect(silent.afterMs).toBeLessThan(2000);
    const big = (await raw("oversize", String(2 * 1024 * 1024))) as { answer: { kind: string; reason: string } };
    expect(big.answer).toEqual({ kind: "refuse", reason: expect.stringMatching(/over the limit/) });
    const after = await flannel("ADD");
    expect(after.code, after.stdout + after.stderr).toBe(0);
    expect(ranInProcess(after)).toBe(false);
  });

  it("serves 200 clients connected at once", async () => {
    const server = await serve();
    const codes = (await raw("status", "200", JSON.stringify(conf()))) as unknown[];
    expect(codes).toHaveLength(200);
    expect(codes.every((c) => c === 0)).toBe(true);
    expect(server.calls.filter((c) => c === "STATUS 0")).toHaveLength(200);
    await run("true", []);
  });
});
