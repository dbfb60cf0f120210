// The compiled mk-docker-opts role against a real shell running the script's logic
// (testing/shell-logic.sh), same arguments, environment and subnet file, inside a netns of ours so
// the route check reads a routing table we control: the options files must be byte-identical and the
// exit codes equal; a stale route via a gateway to the node's own subnet fails both with the same line.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireBuilt, WEFT_PLUGIN_DIR } from "../../netns-fixtures/oracles/reference.ts";
import { run, runIn } from "../../netns-fixtures/topology/sh.ts";
import { Topology } from "../../netns-fixtures/topology/topology.ts";

const ORACLE = join(import.meta.dirname, "testing", "shell-logic.sh");
const ROLE = join(WEFT_PLUGIN_DIR, "mk-docker-opts");
const SAMPLE = "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n";

const CASES: { name: string; flags: string[]; file?: string; env?: Record<string, string> }[] = [
  { name: "no flags", flags: [] },
  { name: "-i", flags: ["-i"] },
  { name: "-c", flags: ["-c"] },
  { name: "-k CUSTOM_KEY", flags: ["-k", "CUSTOM_KEY"] },
  { name: "-m", flags: ["-m"] },
  { name: "-icm grouped", flags: ["-icm"] },
  { name: "FLANNEL_IPMASQ=true", flags: [], file: SAMPLE.replace("IPMASQ=false", "IPMASQ=true") },
  {
    name: "a previous DOCKER_OPTS and DOCKER_OPT_* variables in the environment",
    flags: [],
    env: { DOCKER_OPTS: "--debug", DOCKER_OPT_DNS: "--dns=192.0.2.53", DOCKER_OPT_A: "--iptables=false" },
  },
  {
    name: "a previous value of the -k variable set by subnet.env",
    flags: ["-c", "-k", "EXTRA"],
    file: `${SAMPLE}EXTRA=--log-level=warn\n`,
  },
  {
    name: "no subnet.env, FLANNEL_* from the environment",
    flags: [],
    file: "",
    env: { FLANNEL_SUBNET: "10.9.1.1/24", FLANNEL_MTU: "1400" },
  },
  { name: "an invalid FLANNEL_IPMASQ", flags: [], file: SAMPLE.replace("IPMASQ=false", "IPMASQ=yes") },
  {
    name: "IPv6 lines are ignored",
    flags: [],
    file: `${SAMPLE}FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:4a::1/64\n`,
  },
];

describe("mk-docker-opts role vs the script's logic in sh", () => {
  const topo = new Topology();
  const dir = mkdtempSync(join(tmpdir(), "weft-mkdo-"));
  let ns = "";
  beforeAll(async () => {
    requireBuilt(ROLE);
    ns = await topo.netns("d");
    await run("ip", ["-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"]);
    await run("ip", ["-n", ns, "addr", "add", "192.0.2.11/24", "dev", "eth0"]);
    await run("ip", ["-n", ns, "link", "set", "eth0", "up"]);
  });
  afterAll(async () => {
    await topo.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  let seq = 0;
  async function both(flags: string[], file: string | undefined, env: Record<string, string> = {}) {
    const n = ++seq;
    const src = join(dir, `subnet-${n}.env`);
    if (file !== "") writeFileSync(src, file ?? SAMPLE);
    const base = { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin", ...env };
    const go = async (who: string, cmd: string[]) => {
      const out = join(dir, `${who}-${n}.env`);
      writeFileSync(out, "stale\n");
      const r = await runIn(
        ns,
        "env",
        ["-i", ...Object.entries(base).map(([k, v]) => `${k}=${v}`), ...cmd, "-f", src, "-d", out, ...flags],
        { allowFail: true },
      );
      return { code: r.exitCode, stderr: r.stderr, file: readFileSync(out, "utf8") };
    };
    return { shell: await go("sh", ["sh", ORACLE]), ours: await go("weft", [ROLE]) };
  }

  it.each(CASES)("$name: the same options file and exit code", async (c) => {
    const { shell, ours } = await both(c.flags, c.file, c.env);
    expect(ours.file).toBe(shell.file);
    expect(ours.code).toBe(shell.code);
  });

  it("a route via a gateway to the node's own subnet: both write the file, then exit 1 naming the route", async () => {
    await run("ip", ["-n", ns, "route", "add", "10.1.74.0/24", "via", "192.0.2.9", "dev", "eth0", "metric", "7"]);
    try {
      const { shell, ours } = await both([], undefined);
      expect(shell.code).toBe(1);
      expect(ours.code).toBe(1);
      expect(ours.file).toBe(shell.file);
      expect(ours.stderr).toBe(shell.stderr);
      expect(ours.stderr).toBe(
        "Your routing table already contains the subnet: 10.1.74.0/24 via 192.0.2.9 dev eth0 metric 7 linkdown \n",
      );
    } finally {
      await run("ip", ["-n", ns, "route", "del", "10.1.74.0/24"]);
    }
  });
});
