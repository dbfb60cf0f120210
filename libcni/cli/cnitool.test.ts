import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RecordingExec } from "../testing/recording-exec.ts";
import { captureSink, NoopScratch, PLUGIN_DIR } from "../testing/plugins.ts";
import { run } from "./cnitool.ts";
import { containerIdFor } from "./runtime-conf.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const GO_CNITOOL = join(ROOT, "dist/ref/go-cnitool");
const pexec = promisify(execFile);

let dir: string;
let confDir: string;
let cacheDir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "weft-cnitool-"));
  confDir = join(dir, "net.d");
  cacheDir = join(dir, "cache");
  mkdirSync(confDir);
  writeFileSync(
    join(confDir, "10-net.conflist"),
    JSON.stringify({ cniVersion: "1.1.0", name: "net", plugins: [{ type: "noop" }, { type: "noop2" }] }),
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function cnitool(argv: string[], env: Record<string, string> = {}, exec = new RecordingExec()) {
  const stdout = captureSink();
  const stderr = captureSink();
  const code = await run(argv, {
    env: { NETCONFPATH: confDir, CNI_PATH: "/opt/cni/bin", CNI_CACHE_DIR: cacheDir, ...env },
    cwd: "/run/netns",
    stdout,
    stderr,
    exec,
  });
  return { code, stdout: stdout.text(), stderr: stderr.text(), exec };
}

describe("cnitool", () => {
  it("add prints the result as 4-space JSON without a trailing newline and caches it", async () => {
    const exec = new RecordingExec().on("noop2", "ADD", {
      result: { cniVersion: "1.1.0", ips: [{ address: "10.1.2.3/24" }] },
    });
    const r = await cnitool(["add", "net", "pod1"], {}, exec);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe(
      '{\n    "cniVersion": "1.1.0",\n    "ips": [\n        {\n' +
        '            "address": "10.1.2.3/24"\n        }\n    ]\n}',
    );
    const cid = await containerIdFor("/run/netns/pod1");
    expect(exec.calls[0]?.env).toMatchObject({
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: cid,
      CNI_NETNS: "/run/netns/pod1",
      CNI_IFNAME: "eth0",
      CNI_PATH: "/opt/cni/bin",
    });
    expect(existsSync(join(cacheDir, "results", `net-${cid}-eth0`))).toBe(true);
  });

  it("passes CNI_ARGS, CAP_ARGS and the interface flag to the plugins", async () => {
    writeFileSync(
      join(confDir, "10-net.conflist"),
      JSON.stringify({ cniVersion: "1.0.0", name: "net", plugins: [{ type: "noop", capabilities: { mac: true } }] }),
    );
    const r = await cnitool(["add", "net", "/run/netns/p", "-i", "net1"], {
      CNI_ARGS: "A=1;B=2",
      CAP_ARGS: '{"mac":"c2:00:00:00:00:01"}',
    });
    expect(r.code).toBe(0);
    expect(r.exec.lastCall?.env).toMatchObject({ CNI_ARGS: "A=1;B=2", CNI_IFNAME: "net1" });
    expect(r.exec.lastCall?.config?.["runtimeConfig"]).toEqual({ mac: "c2:00:00:00:00:01" });
  });

  it("check and del print nothing; del runs plugins in reverse", async () => {
    await cnitool(["add", "net", "p"]);
    const c = await cnitool(["check", "net", "p"]);
    const d = await cnitool(["del", "net", "p"]);
    expect([c.code, c.stdout, d.code, d.stdout]).toEqual([0, "", 0, ""]);
    expect(d.exec.commands()).toEqual(["DEL noop2", "DEL noop"]);
  });

  it("gc deletes every cached attachment of the network, then sends GC with an empty valid list", async () => {
    await cnitool(["add", "net", "p1"]);
    await cnitool(["add", "net", "p2"]);
    const r = await cnitool(["gc", "net", "unused"]);
    expect(r.code).toBe(0);
    expect(r.exec.commands()).toEqual(["DEL noop2", "DEL noop", "DEL noop2", "DEL noop", "GC noop", "GC noop2"]);
    // every attachment is stale to cnitool, and the plugins are told so: an empty valid list
    const gcs = r.exec.calls.filter((c) => c.command === "GC");
    expect(gcs.map((c) => c.config?.["cni.dev/valid-attachments"])).toEqual([[], []]);
    expect(readdirSync(join(cacheDir, "results"))).toEqual([]);
  });

  it("status reports the first plugin error and exits 1", async () => {
    const exec = new RecordingExec().on("noop", "STATUS", {
      error: { code: 50, msg: "not ready", details: "no subnet yet" },
    });
    const r = await cnitool(["status", "net", "p"], {}, exec);
    expect(r).toMatchObject({ code: 1, stdout: "", stderr: "Error: not ready; no subnet yet\n" });
  });

  it("reports failures on stderr with exit 1", async () => {
    const exec = new RecordingExec().on("noop2", "ADD", { error: { code: 7, msg: "bad ipam" } });
    const r = await cnitool(["add", "net", "p"], {}, exec);
    expect(r).toMatchObject({ code: 1, stdout: "", stderr: 'Error: plugin type="noop2" failed (add): bad ipam\n' });
  });

  it("names the variable to fix for a bad CNI_ARGS or an unknown network", async () => {
    expect((await cnitool(["add", "net", "p"], { CNI_ARGS: "oops" })).stderr).toMatch(
      /^Error: invalid CNI_ARGS pair "oops"; CNI_ARGS must look like/,
    );
    expect((await cnitool(["add", "other", "p"])).stderr).toBe(
      `Error: no net configuration with name "other" in ${confDir}; networks found there: "net"\n`,
    );
  });

  it("requires the two arguments, also for gc and status", async () => {
    for (const cmd of ["add", "gc", "status"]) {
      const r = await cnitool([cmd, "net"]);
      expect(r).toMatchObject({
        code: 1,
        stderr: `Error: requires at least 2 arg(s), only received 1\nRun 'cnitool ${cmd} --help' for usage.\n`,
      });
      expect(r.exec.calls).toHaveLength(0);
    }
  });

  it("prints help and exits 0 without a command, and per command", async () => {
    const root = await cnitool([]);
    expect(root.code).toBe(0);
    expect(root.stdout).toMatch(/Available Commands:\n {2}add {5}Add network interface to a network namespace/);
    expect(root.stdout).toContain("NETCONFPATH");
    const sub = await cnitool(["del", "--help"]);
    expect(sub.stdout).toMatch(/cnitool del <network-name> <netns> \[flags\]/);
  });

  it("rejects an unknown command with exit 1", async () => {
    expect(await cnitool(["bogus", "a", "b"])).toMatchObject({
      code: 1,
      stderr: `Error: unknown command "bogus" for "cnitool"\nRun 'cnitool --help' for usage.\n`,
    });
  });
});

describe("cnitool against real processes", () => {
  let s: NoopScratch;
  beforeEach(() => {
    s = new NoopScratch();
    writeFileSync(join(confDir, "10-net.conflist"), readFileSync(join(PLUGIN_DIR, "../cache/golden.conflist")));
  });
  afterEach(() => s.dispose());
  const env = (): Record<string, string> => ({
    PATH: process.env["PATH"] ?? "",
    NETCONFPATH: confDir,
    CNI_PATH: PLUGIN_DIR,
    CNI_CACHE_DIR: cacheDir,
    CNI_ARGS: "K8S_POD_NAME=web-1;IgnoreUnknown=1",
    CAP_ARGS:
      '{"portMappings":[{"hostPort":8080,"containerPort":80,' +
      '"protocol":"tcp"}],"mac":"c2:11:22:33:44:55","zeta":{"b":1,"a":2}}',
    ...s.env(),
  });

  it("runs under Bun through the weft entry point (role cnitool)", async () => {
    const bun = join(ROOT, "node_modules/.bin/bun");
    const { stdout } = await pexec(
      bun,
      [join(ROOT, "bin/weft.ts"), "cnitool", "add", "golden", "/run/netns/golden-pod"],
      { env: env() },
    );
    expect(JSON.parse(stdout)).toMatchObject({ cniVersion: "1.0.0", ips: [{ address: "10.1.2.3/24" }] });
    expect(readFileSync(join(cacheDir, "results", "golden-cnitool-db28bd44764cc50ae6d9-eth0"), "utf8")).toMatch(
      /^\{"kind":"cniCacheV1","containerId":"cnitool-db28bd44764cc50ae6d9","config":"/,
    );
  });

  it.skipIf(!existsSync(GO_CNITOOL))(
    "matches Go libcni's cnitool: same stdout, plugin stdin and env, and cache bytes",
    async () => {
      const script = {
        ADD: {
          stdout: {
            cniVersion: "1.0.0",
            interfaces: [{ name: "eth0", mac: "02:42:ac:11:00:02", sandbox: "/run/netns/golden-pod" }],
            ips: [{ address: "10.244.1.5/24", gateway: "10.244.1.1", interface: 0 }],
          },
        },
      };
      s.setScript(script);
      const go = await pexec(GO_CNITOOL, ["add", "golden", "/run/netns/golden-pod"], { env: env() });
      const goCache = readFileSync(join(cacheDir, "results", "golden-cnitool-db28bd44764cc50ae6d9-eth0"), "utf8");
      const goCalls = s.calls();
      rmSync(cacheDir, { recursive: true });
      rmSync(s.record);
      const stdout = captureSink();
      const stderr = captureSink();
      const code = await run(["add", "golden", "/run/netns/golden-pod"], { env: env(), cwd: "/", stdout, stderr });
      expect([code, stderr.text()]).toEqual([0, ""]);
      // Go libcni 1.1.2 still printed an empty "dns": {} for 1.0.0 results; current Go omits it, as we do.
      const goResult = JSON.parse(go.stdout) as Record<string, unknown>;
      expect(goResult["dns"]).toEqual({});
      delete goResult["dns"];
      expect(JSON.parse(stdout.text())).toEqual(goResult);
      const ours = s.calls();
      expect(ours.map((c) => c.env)).toEqual(goCalls.map((c) => c.env));
      // Go passes the config's numbers through float64; we keep the literal.
      expect(ours[0]?.stdin).toBe(goCalls[0]?.stdin.replace("12345678901234567000", "12345678901234567890"));
      // Debian's Go libcni (1.1.2) predates the cache's netns field and the empty-dns omission.
      const oursCache = readFileSync(join(cacheDir, "results", "golden-cnitool-db28bd44764cc50ae6d9-eth0"), "utf8");
      expect(oursCache.replace(',"netns":"/run/netns/golden-pod"', "")).toBe(goCache.replace('"dns":{},', ""));
      // And each reads the other's: Go DELs from our cache with our cached result as prevResult.
      rmSync(s.record);
      await pexec(GO_CNITOOL, ["del", "golden", "/run/netns/golden-pod"], { env: env() });
      expect(JSON.parse(s.calls()[0]?.stdin ?? "{}")).toHaveProperty("prevResult.ips.0.address", "10.244.1.5/24");
    },
  );
});
