// The flannel meta plugin (delegate config saved and removed, subnet.env read, delegation) through
// the binary. The reference package has no flannel plugin, so this runs for weft only: in-process
// delegation and exec'd reference delegates.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ipJson } from "../netns-fixtures/topology/sh.ts";
import { Topology } from "../netns-fixtures/topology/topology.ts";
import { REFERENCE_PLUGIN_DIR } from "../netns-fixtures/oracles/reference.ts";
import { CniServerProcess } from "../daemon/testing/cni-server-process.ts";
import { callPlugin } from "./exec.ts";
import { implsUnderTest } from "./impls.ts";

const ours = implsUnderTest().filter((i) => i.isOurs);
const modes = ours.flatMap((impl) => [
  // ours first on CNI_PATH: bridge and host-local resolve to this binary and run in-process
  {
    label: "in-process delegates",
    impl,
    path: impl.pluginDir,
    env: {} as Record<string, string>,
    refDelegates: false,
    daemon: false,
  },
  // flanneld's CNI server beside subnet.env: the exec relays every call to it
  {
    label: "relayed to flanneld's CNI server",
    impl,
    path: impl.pluginDir,
    env: {} as Record<string, string>,
    refDelegates: false,
    daemon: true,
  },
  // the reference first on CNI_PATH: flannel must exec what CNI_PATH finds, as the reference flannel does
  {
    label: "reference bridge + host-local first on CNI_PATH",
    impl,
    path: `${REFERENCE_PLUGIN_DIR}:${impl.pluginDir}`,
    env: {} as Record<string, string>,
    refDelegates: true,
    daemon: false,
  },
  // the daemon execs the reference delegates too, giving them the pod netns as /proc/<pid>/fd/<n>
  {
    label: "relayed to flanneld's CNI server, reference bridge + host-local first on CNI_PATH",
    impl,
    path: `${REFERENCE_PLUGIN_DIR}:${impl.pluginDir}`,
    env: {} as Record<string, string>,
    refDelegates: true,
    daemon: true,
  },
]);

describe.runIf(modes.length > 0).each(modes)("flannel plugin [$label]", (mode) => {
  let topo: Topology;
  let node: string;
  let pod: string;
  let dir: string;
  let server: CniServerProcess | undefined;
  beforeEach(async () => {
    topo = new Topology();
    node = await topo.netns("node");
    pod = await topo.netns("pod");
    dir = mkdtempSync(join(tmpdir(), `${topo.prefix}-flannel-`));
    if (mode.daemon) server = await CniServerProcess.start(node, join(dir, "cni.sock"));
  });
  afterEach(async () => {
    if (server) {
      // every call of the test went through the daemon
      expect(server.calls.length).toBeGreaterThan(0);
      await server.stop();
      server = undefined;
    }
    rmSync(dir, { recursive: true, force: true });
    await topo.cleanup();
  });

  const conf = (extra: Record<string, unknown> = {}) => ({
    cniVersion: "0.3.1",
    name: "cbr0",
    type: "flannel",
    subnetFile: join(dir, "subnet.env"),
    dataDir: join(dir, "flannel"),
    ipam: { dataDir: join(dir, "ipam") },
    delegate: { hairpinMode: true, isDefaultGateway: true },
    ...extra,
  });
  const call = (command: string, c: unknown) =>
    callPlugin({
      plugin: join(mode.impl.pluginDir, "flannel"),
      command,
      conf: c,
      node,
      netns: `/run/netns/${pod}`,
      path: mode.path,
      containerID: "cid-flannel",
      extraEnv: mode.env,
    });

  it(
    "ADD saves the delegate config, delegates to bridge + host-local, " + "DEL removes it, a second DEL succeeds",
    async () => {
      writeFileSync(
        join(dir, "subnet.env"),
        "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.5.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
      );
      const add = await call("ADD", conf());
      expect(add.code, add.stdout + add.stderr).toBe(0);
      expect(add.json?.["ips"]).toEqual([expect.objectContaining({ address: "10.244.5.2/24", gateway: "10.244.5.1" })]);
      const saved = JSON.parse(readFileSync(join(dir, "flannel", "cid-flannel"), "utf8")) as unknown;
      expect(saved).toEqual({
        cniVersion: "0.3.1",
        name: "cbr0",
        type: "bridge",
        hairpinMode: true,
        isDefaultGateway: true,
        isGateway: true,
        ipMasq: false,
        mtu: 1450,
        ipam: {
          type: "host-local",
          dataDir: join(dir, "ipam"),
          ranges: [[{ subnet: "10.244.5.0/24" }]],
          routes: [{ dst: "10.244.0.0/16" }],
        },
      });
      const eth0 = (await ipJson<{ mtu: number; txqlen?: number }[]>(pod, ["link", "show", "eth0"]))[0];
      expect(eth0?.mtu).toBe(1450);
      // Witness of who made the veth: Debian's bridge (1.1.1) leaves the queue length 0, ours (like
      // current upstream) 1000 (DIFFERENCES.txqueuelen).
      expect(eth0?.txqlen ?? 0).toBe(mode.refDelegates ? 0 : 1000);
      const del = await call("DEL", conf());
      expect(del.code, del.stdout + del.stderr).toBe(0);
      expect(existsSync(join(dir, "flannel", "cid-flannel"))).toBe(false);
      expect(await ipJson(node, ["link", "show", "master", "cni0"])).toEqual([]);
      const del2 = await call("DEL", conf());
      expect(del2.code, del2.stdout).toBe(0);
    },
  );

  // GC needs spec 1.1.0 all the way down: Debian's bridge (1.1.1) has no GC
  it.runIf(!mode.refDelegates)(
    "GC frees in one call the reservations and saved configs of containers not in the valid list",
    async () => {
      writeFileSync(
        join(dir, "subnet.env"),
        "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.5.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
      );
      const add = await call("ADD", conf());
      expect(add.code, add.stdout + add.stderr).toBe(0);
      // what killed calls leave: a reservation and a saved config of a container the runtime forgot,
      // and a saved config no DEL could read
      const ipam = join(dir, "ipam", "cbr0");
      writeFileSync(join(ipam, "10.244.5.77"), "dead-1\r\neth0");
      writeFileSync(join(dir, "flannel", "dead-1"), readFileSync(join(dir, "flannel", "cid-flannel")));
      writeFileSync(join(dir, "flannel", "dead-2"), "{");
      const valid = [{ containerID: "cid-flannel", ifname: "eth0" }];
      const gc = await call("GC", conf({ cniVersion: "1.1.0", "cni.dev/valid-attachments": valid }));
      expect(gc.code, gc.stdout + gc.stderr).toBe(0);
      expect(readdirSync(ipam).filter((f) => /^\d/.test(f))).toEqual(["10.244.5.2"]);
      expect(readdirSync(join(dir, "flannel"))).toEqual(["cid-flannel"]);
      expect((await call("DEL", conf())).code).toBe(0);
    },
  );

  it("DEL works from the saved config while subnet.env is gone (flanneld down)", async () => {
    writeFileSync(
      join(dir, "subnet.env"),
      "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.5.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
    );
    expect((await call("ADD", conf())).code).toBe(0);
    rmSync(join(dir, "subnet.env"));
    const del = await call("DEL", conf());
    expect(del.code, del.stdout).toBe(0);
    expect(await ipJson(pod, ["link", "show", "eth0"]).catch(() => [])).toEqual([]);
  });

  it(
    "a missing subnet.env says flanneld is not running here, " + "where it looked, and asks to retry (code 11)",
    async () => {
      const add = await call("ADD", conf());
      expect(add.code).toBe(1);
      expect(add.json?.["code"]).toBe(11);
      expect(String(add.json?.["msg"]) + String(add.json?.["details"] ?? "")).toContain(join(dir, "subnet.env"));
      expect(String(add.json?.["msg"]) + String(add.json?.["details"] ?? "")).toMatch(/flanneld/);
    },
  );

  it("refuses delegate.name and delegate.ipam with code 7", async () => {
    writeFileSync(
      join(dir, "subnet.env"),
      "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.5.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
    for (const delegate of [{ name: "x" }, { ipam: {} }]) {
      const r = await call("ADD", conf({ delegate }));
      expect(r.json?.["code"]).toBe(7);
      expect(r.json?.["msg"]).toMatch(/'delegate' dictionary must not have '(name|ipam)' field/);
    }
  });
});
