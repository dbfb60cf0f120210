// Kill chaos: pods come and go on one flannel node through a real cnitool (ours, dist/bin/cnitool, and the
// Go oracle, dist/ref/go-cnitool), and in about half the ADDs and a quarter of the DELs the whole process
// tree (cnitool, the flannel exec, an exec'd host-local) is SIGKILLed at a random point. The runtime's answer
// is what kubelet's is: DEL until it succeeds. Half the calls run the reference host-local (Debian's) as the
// IPAM on the same dataDir, so both write and release one set of reservations.
//
// Checked as it runs: every ADD that succeeds got an address no other live pod holds, and every few rounds
// the dataDirs hold exactly the files of the live pods (nothing else, nothing empty from ours). Checked at
// the end of each seed, after `cnitool gc`, every pod deleted through our chain and one more pod coming and going
// (what a node does next; it is the lock holder that reclaims what a killed reference host-local left empty): no
// reservation, no saved config, no cache entry, no temp file, no host veth, nothing but lo in any pod.
// One more seed relays every call to flanneld's CNI server (the daemon path, same plugin code) and
// SIGKILLs the server instead, at random points of its calls, starting it again as a DaemonSet would.
//
// WEFT_KILL_ROUNDS (default 1000) is split over the seeds; WEFT_KILL_SEEDS="1,2,3" picks the seeds;
// WEFT_KILL_DAEMON_ROUNDS (default 80; 0 skips it) sizes the relayed seed; WEFT_KILL_PLUGIN_DIR runs
// another build's cnitool and plugins (say main's) through the same rounds.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CniServerProcess } from "../daemon/testing/cni-server-process.ts";
import { Rng } from "../netns-fixtures/fuzz/fuzz.ts";
import {
  GO_CNITOOL,
  REFERENCE_PLUGIN_DIR,
  WEFT_PLUGIN_DIR,
  referencePlugin,
  requireBuilt,
} from "../netns-fixtures/oracles/reference.ts";
import { ipJson } from "../netns-fixtures/topology/sh.ts";
import { Topology } from "../netns-fixtures/topology/topology.ts";

const ROUNDS = Number(process.env["WEFT_KILL_ROUNDS"] ?? 1000);
/** Our cnitool and plugins; WEFT_KILL_PLUGIN_DIR measures another build (say main's) the same way. */
const PLUGINS = process.env["WEFT_KILL_PLUGIN_DIR"] ?? WEFT_PLUGIN_DIR;
const SEEDS = (process.env["WEFT_KILL_SEEDS"] ?? "101,202,303,404").split(",").map(Number);
const PODS = 6;
const PER_SEED = Math.ceil(ROUNDS / SEEDS.length);
/** Rounds relayed to a flanneld CNI server that is killed instead of the exec (WEFT_KILL_DAEMON_ROUNDS). */
const DAEMON_ROUNDS = Number(process.env["WEFT_KILL_DAEMON_ROUNDS"] ?? 80);
const DAEMON_SEED = 505;
/** How long after the spawn a kill lands (ms): an ADD or DEL through a cnitool takes about 25 to 100 ms here. */
const KILL_WINDOW_MS = 60;
/** What a Go cnitool prints for a cached result file a killed Go cnitool left empty. */
const GO_EMPTY_CACHE = /cached result: decoding version from network config: unexpected end of JSON input/;
const SUBNET_ENV =
  "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.9.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";

/** The container ID both cnitools give the pod at /run/netns/<name>. */
function containerId(name: string): string {
  return `cnitool-${createHash("sha512").update(`/run/netns/${name}`).digest("hex").slice(0, 20)}`;
}

interface Way {
  readonly label: string;
  readonly tool: string;
  /** CNI_PATH: our plugins only, or the reference host-local first. */
  readonly path: string;
}

interface Outcome {
  readonly code: number | null;
  readonly killed: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/** flanneld's CNI server serving the seed, and how often it was killed and started again. */
interface Daemon {
  server: CniServerProcess | undefined;
  readonly socket: string;
  restarts: number;
}

interface Tally {
  rounds: number;
  adds: number;
  dels: number;
  killsLanded: number;
  killedAdds: number;
  killedDels: number;
  retries: number;
  duplicates: number;
  reclaimed: number;
  checks: number;
  /** DELs through a Go cnitool that failed on a cache file a killed Go cnitool left empty. */
  goCacheDefects: number;
}

describe("kill chaos: SIGKILL at random points of ADD and DEL through a real cnitool", () => {
  let topo: Topology;
  let node: string;
  let pods: string[];
  let root: string;
  const totals: Tally[] = [];
  const daemons: Daemon[] = [];

  beforeAll(async () => {
    requireBuilt(join(PLUGINS, "cnitool"));
    requireBuilt(GO_CNITOOL);
    referencePlugin("host-local");
    topo = new Topology();
    node = await topo.netns("node");
    pods = [];
    for (let i = 0; i < PODS; i++) pods.push(await topo.netns(`p${i}`));
    root = mkdtempSync(join(tmpdir(), `${topo.prefix}-chaos-`));
    mkdirSync(join(root, "refbin"));
    symlinkSync(join(REFERENCE_PLUGIN_DIR, "host-local"), join(root, "refbin", "host-local"));
    writeFileSync(join(root, "subnet.env"), SUBNET_ENV);
  });

  afterAll(async () => {
    for (const d of daemons) await d.server?.stop("SIGKILL");
    await topo?.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
    if (totals.length > 0) {
      const sum = (k: keyof Tally) => totals.reduce((s, t) => s + t[k], 0);
      console.log(
        `kill chaos over ${totals.length} seeds: ${sum("rounds")} rounds, ${sum("adds")} ADDs, ${sum("dels")} DELs, ` +
          `${sum("killsLanded")} kills landed (${sum("killedAdds")} in ADD, ${sum("killedDels")} in DEL), ` +
          `${sum("retries")} DEL retries, ${sum("reclaimed")} orphans reclaimed, ${sum("duplicates")} duplicates, ` +
          `${sum("checks")} file checks, ${sum("goCacheDefects")} Go cnitool DELs refused on a cache file a ` +
          "killed Go cnitool left empty",
      );
    }
  });

  const bridge = () => `${topo.prefix}br`;

  /** The seed's directories and network config (fresh per seed). */
  function setupSeed(seed: number): { dir: string; ways: Way[]; ours: Way } {
    const dir = join(root, `seed-${seed}`);
    mkdirSync(join(dir, "net.d"), { recursive: true });
    const conf = {
      cniVersion: "1.0.0",
      name: "cbr0",
      plugins: [
        {
          type: "flannel",
          subnetFile: join(root, "subnet.env"),
          dataDir: join(dir, "flannel"),
          ipam: { dataDir: join(dir, "ipam") },
          delegate: { bridge: bridge(), isDefaultGateway: true },
        },
      ],
    };
    writeFileSync(join(dir, "net.d", "10-cbr0.conflist"), JSON.stringify(conf));
    const refPath = `${join(root, "refbin")}:${PLUGINS}`;
    const ours: Way = {
      label: "weft cnitool, weft host-local",
      tool: join(PLUGINS, "cnitool"),
      path: PLUGINS,
    };
    const ways: Way[] = [
      ours,
      { label: "go cnitool, weft host-local", tool: GO_CNITOOL, path: PLUGINS },
      { label: "weft cnitool, reference host-local", tool: join(PLUGINS, "cnitool"), path: refPath },
      { label: "go cnitool, reference host-local", tool: GO_CNITOOL, path: refPath },
    ];
    return { dir, ways, ours };
  }

  /**
   * Run `tool add|del cbr0 <pod>` in the node netns. Without a daemon the flannel exec runs the call and
   * `killMs` SIGKILLs the process group after that long; with one, the exec relays the call to it and
   * `killMs` SIGKILLs the daemon instead, which is started again once the call has answered.
   */
  async function call(
    dir: string,
    way: Way,
    command: "add" | "del" | "gc",
    pod: string,
    killMs?: number,
    daemon?: Daemon,
  ): Promise<Outcome> {
    const r = await new Promise<Outcome & { daemonKilled: boolean }>((resolve, reject) => {
      const child: ChildProcess = spawn("ip", ["netns", "exec", node, way.tool, command, "cbr0", `/run/netns/${pod}`], {
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin",
          NETCONFPATH: join(dir, "net.d"),
          CNI_PATH: way.path,
          CNI_CACHE_DIR: join(dir, "cache"),
          CNI_IFNAME: "eth0",
          // with no daemon the flannel exec runs every call itself
          WEFT_CNI_SOCKET: daemon ? daemon.socket : "",
        },
      });
      let stdout = "";
      let stderr = "";
      let killed = false;
      let daemonKilled = false;
      child.stdout?.on("data", (b: Buffer) => void (stdout += b.toString()));
      child.stderr?.on("data", (b: Buffer) => void (stderr += b.toString()));
      const timer =
        killMs === undefined
          ? undefined
          : setTimeout(() => {
              if (daemon) {
                daemonKilled = true;
                void daemon.server?.stop("SIGKILL");
                return;
              }
              if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
              try {
                process.kill(-child.pid, "SIGKILL");
                killed = true;
              } catch {
                // already gone
              }
            }, killMs);
      child.on("error", reject);
      child.on("close", (code, signal) => {
        if (timer) clearTimeout(timer);
        resolve({ code, killed: killed && signal === "SIGKILL", stdout, stderr, daemonKilled });
      });
    });
    if (daemon && r.daemonKilled) {
      // as a DaemonSet does: flanneld comes back; the call itself answered 11, or had finished
      await daemon.server?.stop("SIGKILL");
      rmSync(daemon.socket, { force: true });
      daemon.server = await CniServerProcess.start(node, daemon.socket);
      daemon.restarts++;
      return { ...r, killed: r.code !== 0 };
    }
    return r;
  }

  const files = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);

  /**
   * What in the seed's state directories no live pod explains, as problems; the reference host-local's
   * empty orphans are counted apart (ours reclaims them under the lock: checked at the end).
   */
  function checkFiles(dir: string, live: ReadonlyMap<number, string>, problems: string[], when: string): number {
    const want = new Set([...live.keys()].map((i) => containerId(pods[i] ?? "")));
    for (const name of files(join(dir, "flannel"))) {
      if (!want.delete(name)) problems.push(`${when}: flannel dataDir holds ${name}, no live pod's`);
    }
    for (const name of want) problems.push(`${when}: no saved config for live pod ${name}`);
    const ipam = join(dir, "ipam", "cbr0");
    const addresses = new Set(live.values());
    let orphans = 0;
    for (const name of files(ipam)) {
      if (name === "lock" || name === "last_reserved_ip.0") continue;
      if (!/^10\.244\.9\.\d+$/.test(name)) {
        problems.push(`${when}: stray file ${name} among the reservations`);
        continue;
      }
      // the reference host-local killed between its O_EXCL create and its write leaves an empty file
      if (readFileSync(join(ipam, name), "utf8") === "") orphans++;
      else if (!addresses.delete(name)) problems.push(`${when}: ${name} reserved, no live pod holds it (a leak)`);
    }
    for (const ip of addresses) problems.push(`${when}: live pod's ${ip} has no reservation`);
    for (const name of files(join(dir, "cache", "results"))) {
      if (!/^cbr0-cnitool-[0-9a-f]+-eth0$/.test(name)) problems.push(`${when}: stray file ${name} in the cache`);
    }
    return orphans;
  }

  async function hostVeths(): Promise<string[]> {
    return (await ipJson<{ ifname: string }[]>(node, ["link", "show", "type", "veth"])).map((l) => l.ifname);
  }

  async function podLinks(i: number): Promise<string[]> {
    return (await ipJson<{ ifname: string }[]>(pods[i], ["link", "show"])).map((l) => l.ifname).sort();
  }

  /**
   * `rounds` rounds of seed `seed`; with `daemon`, every call is relayed to flanneld's CNI server and the
   * kills land in the server instead of the exec.
   */
  async function runSeed(seed: number, rounds: number, withDaemon: boolean): Promise<void> {
    const rng = new Rng(seed);
    const { dir, ways, ours } = setupSeed(seed);
    const daemon: Daemon | undefined = withDaemon
      ? {
          server: await CniServerProcess.start(node, join(dir, "cni.sock")),
          socket: join(dir, "cni.sock"),
          restarts: 0,
        }
      : undefined;
    if (daemon) daemons.push(daemon);
    const t: Tally = {
      rounds: 0,
      adds: 0,
      dels: 0,
      killsLanded: 0,
      killedAdds: 0,
      killedDels: 0,
      retries: 0,
      duplicates: 0,
      reclaimed: 0,
      checks: 0,
      goCacheDefects: 0,
    };
    totals.push(t);
    /** Pod index -> its address, for the pods that are up. */
    const live = new Map<number, string>();
    const problems: string[] = [];
    let pendingOrphans = 0;
    const count = (o: Outcome) => {
      t.reclaimed += (o.stderr.match(/reclaimed 10\.244\./g) ?? []).length;
      return o;
    };
    const del = async (i: number, first?: Way, killMs?: number) => {
      for (let attempt = 0; attempt <= 30; attempt++) {
        const way = attempt === 0 && first ? first : rng.pick(ways);
        // a runtime keeps retrying; kills stop after a few, as a node calms down
        const kill = attempt === 0 ? killMs : attempt < 4 && rng.chance(0.25) ? rng.int(0, KILL_WINDOW_MS) : undefined;
        const r = count(await call(dir, way, "del", pods[i] ?? "", kill, daemon));
        t.dels++;
        if (r.killed) {
          t.killsLanded++;
          t.killedDels++;
        }
        if (attempt > 0) t.retries++;
        if (r.code === 0) {
          live.delete(i);
          return;
        }
        // Go libcni writes its result cache in place (not temp + rename): a Go cnitool killed in that write
        // leaves an empty file, and every later DEL through a Go cnitool fails on it. A reference defect;
        // our cnitool's DEL gets past it (a retry below picks it sooner or later).
        if (!r.killed && way.tool === GO_CNITOOL && GO_EMPTY_CACHE.test(`${r.stdout}${r.stderr}`)) {
          t.goCacheDefects++;
          continue;
        }
        if (!r.killed) problems.push(`DEL of pod ${i} through ${way.label} failed: ${r.stdout}${r.stderr}`);
      }
      problems.push(`DEL of pod ${i} never succeeded`);
      live.delete(i);
    };

    for (let round = 0; round < rounds; round++) {
      t.rounds++;
      const i = rng.int(0, PODS - 1);
      const way = rng.pick(ways);
      if (!live.has(i)) {
        const kill = rng.chance(0.5) ? rng.int(0, KILL_WINDOW_MS) : undefined;
        const r = count(await call(dir, way, "add", pods[i] ?? "", kill, daemon));
        t.adds++;
        if (r.killed) {
          t.killsLanded++;
          t.killedAdds++;
        }
        if (r.code === 0) {
          const result = JSON.parse(r.stdout) as { ips: { address: string }[] };
          const ip = (result.ips[0]?.address ?? "").split("/")[0] ?? "";
          const holder = [...live].find(([, a]) => a === ip);
          if (holder) {
            t.duplicates++;
            problems.push(`round ${round}: pod ${i} got ${ip}, which pod ${holder[0]} holds`);
          }
          live.set(i, ip);
        } else {
          if (!r.killed) problems.push(`ADD of pod ${i} through ${way.label} failed: ${r.stdout}${r.stderr}`);
          // a failed ADD is followed by DEL, as kubelet does
          await del(i);
        }
      } else {
        const kill = rng.chance(0.25) ? rng.int(0, KILL_WINDOW_MS) : undefined;
        await del(i, way, kill);
      }
      if (round % 25 === 24) {
        t.checks++;
        pendingOrphans = checkFiles(dir, live, problems, `round ${round}`);
      }
    }

    // the end: `cnitool gc` (our cnitool: DEL of every cached attachment, then GC of the network with an
    // empty valid list, relayed to the daemon in the relayed seed), every pod deleted through our chain
    // again, then one more pod comes and goes
    const gc = count(await call(dir, ours, "gc", pods[0] ?? "", undefined, daemon));
    if (gc.code !== 0) problems.push(`cnitool gc: ${gc.stdout}${gc.stderr}`);
    for (const i of [...live.keys()]) await del(i, ours);
    for (let i = 0; i < PODS; i++) {
      const r = count(await call(dir, ours, "del", pods[i] ?? "", undefined, daemon));
      if (r.code !== 0) problems.push(`final DEL of pod ${i}: ${r.stdout}${r.stderr}`);
    }
    const probe = count(await call(dir, ours, "add", pods[0] ?? "", undefined, daemon));
    if (probe.code !== 0) problems.push(`probe ADD: ${probe.stdout}${probe.stderr}`);
    const unprobe = count(await call(dir, ours, "del", pods[0] ?? "", undefined, daemon));
    if (unprobe.code !== 0) problems.push(`probe DEL: ${unprobe.stdout}${unprobe.stderr}`);

    const ipam = join(dir, "ipam", "cbr0");
    const leftover = (what: string, names: string[]) => {
      for (const n of names) problems.push(`end: ${what} ${n} left`);
    };
    leftover("saved config", files(join(dir, "flannel")));
    leftover(
      "file",
      files(ipam).filter((n) => n !== "lock" && n !== "last_reserved_ip.0"),
    );
    if (!/^10\.244\.9\.\d+$/.test(readFileSync(join(ipam, "last_reserved_ip.0"), "utf8")))
      problems.push("end: last_reserved_ip.0 is corrupt");
    leftover("cache file", files(join(dir, "cache", "results")));
    leftover("host veth", await hostVeths());
    for (let i = 0; i < PODS; i++) {
      leftover(
        `in pod ${i}: link`,
        (await podLinks(i)).filter((l) => l !== "lo"),
      );
    }
    await daemon?.server?.stop();
    console.log(
      `seed ${seed}${daemon ? ` (relayed, flanneld killed and restarted ${daemon.restarts} times)` : ""}: ` +
        `${JSON.stringify(t)}, ${pendingOrphans} reference orphans at the last check` +
        (problems.length > 0 ? `\n${problems.length} problems:\n  ${problems.join("\n  ")}` : ""),
    );
    expect(problems).toEqual([]);
    // the point of the exercise: kills did land in both commands (a relayed call is killed only when
    // the kill lands while the daemon holds it, a narrower window)
    expect(t.killedAdds).toBeGreaterThanOrEqual(daemon ? 1 : Math.max(1, Math.floor(rounds / 20)));
    expect(t.killedDels).toBeGreaterThan(0);
  }

  for (const seed of SEEDS) {
    it(
      `seed ${seed}: ${PER_SEED} rounds end with no leaked address, no stray or corrupt file, no duplicate`,
      () => runSeed(seed, PER_SEED, false),
      PER_SEED * 2_000,
    );
  }

  it.runIf(DAEMON_ROUNDS > 0)(
    `relayed to flanneld's CNI server, killed at random points: ${DAEMON_ROUNDS} rounds leave nothing behind`,
    () => runSeed(DAEMON_SEED, DAEMON_ROUNDS, true),
    DAEMON_ROUNDS * 6_000,
  );
});
