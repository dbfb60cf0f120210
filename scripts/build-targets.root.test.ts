// The release builds run where they are meant to: the arm64 binary under Debian's qemu-aarch64 (user
// mode, with Debian's arm64 glibc from libc6-arm64-cross), and the x64 baseline binary under
// qemu-x86_64 emulating a Nehalem CPU, which has no AVX or AVX2 (qemu faults on those instructions
// there). Each plugin role answers by its link name, and a pod gets set up and torn down in our own
// namespaces by the flannel chain of that binary.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireBuilt, REPO_ROOT, WEFT_PLUGIN_DIR } from "../netns-fixtures/oracles/reference.ts";
import { ipJson, run, runIn } from "../netns-fixtures/topology/sh.ts";
import { Topology } from "../netns-fixtures/topology/topology.ts";
import { targetOutfile, type TargetName } from "./build-targets.ts";

const ARM64_LIBC = "/usr/aarch64-linux-gnu";

interface Emulated {
  readonly target: TargetName;
  readonly qemu: string;
  readonly qemuArgs: readonly string[];
  /** why the machine cannot run this check, or undefined */
  readonly missing: string | undefined;
}

function which(cmd: string): string | undefined {
  for (const d of (process.env["PATH"] ?? "").split(":")) if (d && existsSync(join(d, cmd))) return join(d, cmd);
  return undefined;
}

const CASES: readonly Emulated[] = [
  {
    target: "linux-arm64",
    qemu: "qemu-aarch64",
    qemuArgs: ["-L", ARM64_LIBC],
    missing: !which("qemu-aarch64")
      ? "qemu-aarch64 is not installed (Debian package qemu-user; scripts/install-deps.sh installs it)"
      : !existsSync(join(ARM64_LIBC, "lib", "ld-linux-aarch64.so.1"))
        ? "the arm64 glibc is not installed (Debian package libc6-arm64-cross)"
        : undefined,
  },
  {
    target: "linux-x64-baseline",
    qemu: "qemu-x86_64",
    qemuArgs: ["-cpu", "Nehalem"],
    missing:
      process.arch !== "x64"
        ? "this check emulates an older x86-64 CPU on an x86-64 machine"
        : !which("qemu-x86_64")
          ? "qemu-x86_64 is not installed (Debian package qemu-user)"
          : undefined,
  },
];

const SUBNET_ENV =
  "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.9.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n";

for (const c of CASES) {
  describe.skipIf(c.missing !== undefined)(`dist/${c.target}/weft under ${c.qemu} ${c.qemuArgs.join(" ")}`, () => {
    const binary = join(REPO_ROOT, targetOutfile(c.target));
    let topo: Topology | undefined;
    let dir = "";
    /** The binary run as `role` (argv[0], as a link named after the role would give it) under qemu. */
    const asRole = (role: string, args: readonly string[], o: Parameters<typeof run>[2] = {}) =>
      run(c.qemu, [...c.qemuArgs, "-0", role, binary, ...args], { allowFail: true, ...o });

    beforeAll(async () => {
      requireBuilt();
      // the release build of this target (its Bun runtime comes from npm, once, then from the cache)
      await run(
        join(REPO_ROOT, "node_modules", ".bin", "bun"),
        [join(REPO_ROOT, "scripts", "build.ts"), `--target=${c.target}`],
        {
          timeoutMs: 300_000,
        },
      );
      topo = new Topology();
      dir = mkdtempSync(join(tmpdir(), `${topo.prefix}-xbuild-`));
    }, 300_000);
    afterAll(async () => {
      if (dir) rmSync(dir, { recursive: true, force: true });
      await topo?.cleanup();
    });

    it("prints its version and roles, and each CNI plugin role its about string and VERSION result", async () => {
      const v = await run(c.qemu, [...c.qemuArgs, binary, "--version"], { allowFail: true });
      expect(v.exitCode, v.stderr).toBe(0);
      expect(v.stdout).toMatch(/^weft \d+\.\d+\.\d+\nroles: flannel, bridge, host-local, loopback, flanneld/);
      for (const role of ["flannel", "bridge", "host-local", "loopback"]) {
        const about = await asRole(role, [], { env: { CNI_COMMAND: "" }, input: "" });
        expect(about.stderr).toContain(`CNI ${role} plugin weft`);
        const version = await asRole(role, [], { env: { CNI_COMMAND: "VERSION" }, input: '{"cniVersion":"1.0.0"}' });
        expect(version.exitCode, version.stderr).toBe(0);
        expect(JSON.parse(version.stdout)).toMatchObject({ supportedVersions: expect.arrayContaining(["1.1.0"]) });
      }
      const flanneld = await asRole("flanneld", ["--version"]);
      expect(flanneld.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    });

    it("sets up a pod in a netns through its flannel, bridge and host-local (ADD, CHECK, DEL)", async () => {
      if (!topo) throw new Error("no topology");
      const node = await topo.netns(`${c.target.slice(6, 9)}node`);
      const pod = await topo.netns(`${c.target.slice(6, 9)}pod`);
      const bin = join(dir, "bin");
      const confDir = join(dir, "net.d");
      mkdirSync(bin, { recursive: true });
      mkdirSync(confDir, { recursive: true });
      // the runtime (our x64 cnitool) execs `flannel`: a script running the target binary under qemu;
      // bridge and host-local are nowhere on CNI_PATH, so flannel runs them in its own process
      writeFileSync(
        join(bin, "flannel"),
        `#!/bin/sh\nexec ${c.qemu} ${c.qemuArgs.join(" ")} -0 flannel ${binary} "$@"\n`,
        { mode: 0o755 },
      );
      writeFileSync(join(dir, "subnet.env"), SUBNET_ENV);
      const bridge = `${topo.prefix}br`;
      writeFileSync(
        join(confDir, "10-x.conflist"),
        JSON.stringify({
          cniVersion: "1.1.0",
          name: "xnet",
          plugins: [
            {
              type: "flannel",
              subnetFile: join(dir, "subnet.env"),
              dataDir: join(dir, "flannel"),
              ipam: { dataDir: join(dir, "ipam") },
              delegate: { bridge, isDefaultGateway: true },
            },
          ],
        }),
      );
      const cnitool = (cmd: string) =>
        runIn(node, join(WEFT_PLUGIN_DIR, "cnitool"), [cmd, "xnet", `/var/run/netns/${pod}`], {
          allowFail: true,
          env: {
            NETCONFPATH: confDir,
            CNI_PATH: bin,
            CNI_CACHE_DIR: join(dir, "cache"),
            WEFT_CNI_SOCKET: "",
          },
        });
      const add = await cnitool("add");
      expect(add.exitCode, add.stderr || add.stdout).toBe(0);
      expect(JSON.parse(add.stdout)).toMatchObject({ ips: [{ address: "10.244.9.2/24", gateway: "10.244.9.1" }] });
      const addrs = await ipJson<{ ifname: string; addr_info: { local: string; family: string }[] }[]>(pod, [
        "addr",
        "show",
        "eth0",
      ]);
      expect(addrs[0]?.addr_info.filter((a) => a.family === "inet").map((a) => a.local)).toEqual(["10.244.9.2"]);
      const routes = await ipJson<{ dst: string; gateway?: string }[]>(pod, ["route", "show", "default"]);
      expect(routes[0]?.gateway).toBe("10.244.9.1");
      const check = await cnitool("check");
      expect(check.exitCode, check.stderr || check.stdout).toBe(0);
      const del = await cnitool("del");
      expect(del.exitCode, del.stderr || del.stdout).toBe(0);
      expect(await ipJson(pod, ["addr", "show", "eth0"]).catch(() => "gone")).toBe("gone");
      expect(existsSync(join(dir, "ipam", "xnet", "10.244.9.2"))).toBe(false);
    });
  });
}
