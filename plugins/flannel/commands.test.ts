import { describe, expect, it } from "vitest";
import { parseSubnetEnv, SubnetEnvError, type SubnetEnv } from "../../net/subnet-env.ts";
import { CniError } from "../../libcni/types/error.ts";
import type { AnyResult } from "../../libcni/types/result.ts";
import { flannelAdd, flannelDel, flannelGc, flannelStatus, type FlannelDeps } from "./commands.ts";
import { MemoryScratch } from "./testing/memory-scratch.ts";

const ENV = "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n";

function setup(files: Record<string, string> = { "/run/flannel/subnet.env": ENV }) {
  const calls: { cmd: string; type: string; conf: string }[] = [];
  const scratches = new Map<string, MemoryScratch>();
  const logs: string[] = [];
  let failDel: Error | undefined;
  const deps: FlannelDeps = {
    readSubnetEnv: (path): SubnetEnv => {
      const text = files[path];
      if (text === undefined) throw new SubnetEnvError(path, `open ${path}: no such file or directory`, true);
      return parseSubnetEnv(text, path);
    },
    delegate: {
      add: async (type, conf): Promise<AnyResult> => {
        calls.push({ cmd: "ADD", type, conf });
        return { cniVersion: "1.0.0", ips: [{ address: "10.1.17.2/24", gateway: "10.1.17.1" }] };
      },
      del: async (type, conf) => {
        calls.push({ cmd: "DEL", type, conf });
        if (failDel) throw failDel;
      },
      status: async (type, conf) => void calls.push({ cmd: "STATUS", type, conf }),
      gc: async (type, conf) => void calls.push({ cmd: "GC", type, conf }),
    },
    scratch: (dir) => {
      let s = scratches.get(dir);
      if (!s) scratches.set(dir, (s = new MemoryScratch()));
      return s;
    },
    log: (m) => logs.push(m),
  };
  return { deps, calls, scratches, logs, failDel: (e: Error) => (failDel = e) };
}

const conf = { cniVersion: "1.0.0", name: "cbr0", type: "flannel" };

async function codeOf(p: Promise<unknown>): Promise<CniError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CniError) return e;
    throw e;
  }
  throw new Error("expected a failure");
}

describe("flannel ADD", () => {
  it(
    "saves exactly the bytes it sends to the delegate, before " +
      "delegating, under the default dataDir (checklist 73)",
    async () => {
      const s = setup();
      const r = await flannelAdd({ containerID: "cid1", config: conf }, s.deps);
      expect(r).toEqual({ cniVersion: "1.0.0", ips: [{ address: "10.1.17.2/24", gateway: "10.1.17.1" }] });
      const saved = s.scratches.get("/var/lib/cni/flannel")?.load("cid1");
      expect(s.calls).toEqual([{ cmd: "ADD", type: "bridge", conf: saved }]);
      expect(JSON.parse(saved ?? "")).toEqual({
        cniVersion: "1.0.0",
        ipMasq: false,
        ipam: { ranges: [[{ subnet: "10.1.17.0/24" }]], routes: [{ dst: "10.1.0.0/16" }], type: "host-local" },
        isGateway: true,
        mtu: 1472,
        name: "cbr0",
        type: "bridge",
      });
    },
  );

  it(
    "says flanneld is not running, " + "names the file and asks to retry (code 11) when subnet.env is missing",
    async () => {
      const s = setup({});
      const e = await codeOf(
        flannelAdd({ containerID: "c", config: { ...conf, subnetFile: "/x/subnet.env" } }, s.deps),
      );
      expect(e.code).toBe(11);
      expect(e.msg).toContain("/x/subnet.env");
      expect(e.msg).toMatch(/flanneld is not running on this node/);
      expect(e.details).toMatch(/flanneld/);
      expect(s.calls).toEqual([]);
    },
  );

  it("reports an incomplete subnet.env with the reference list of missing keys (checklist 75)", async () => {
    const s = setup({ "/run/flannel/subnet.env": "foo=bar\n" });
    const e = await codeOf(flannelAdd({ containerID: "c", config: conf }, s.deps));
    expect(e.code).toBe(7);
    expect(e.msg).toContain(
      "/run/flannel/subnet.env is missing FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK, " +
        "FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ",
    );
  });

  it("refuses delegate.ipam before saving or delegating", async () => {
    const s = setup();
    const e = await codeOf(flannelAdd({ containerID: "c", config: { ...conf, delegate: { ipam: {} } } }, s.deps));
    expect([e.code, e.msg]).toEqual([7, "'delegate' dictionary must not have 'ipam' field, it'll be set by flannel"]);
    expect(s.scratches.get("/var/lib/cni/flannel")?.files.size ?? 0).toBe(0);
  });

  it.each([-1, 1.5, 65536, "1500"])("refuses delegate.mtu %j (code 7 naming the key) before saving", async (mtu) => {
    const s = setup();
    const e = await codeOf(flannelAdd({ containerID: "c", config: { ...conf, delegate: { mtu } } }, s.deps));
    expect(e.code).toBe(7);
    expect(e.msg).toMatch(/^'delegate\.mtu' must be an MTU in bytes, an integer from 0 to 65535/);
    expect(s.scratches.get("/var/lib/cni/flannel")?.files.size ?? 0).toBe(0);
    expect(s.calls).toEqual([]);
  });

  it("delegates to the user's type", async () => {
    const s = setup();
    await flannelAdd({ containerID: "c", config: { ...conf, delegate: { type: "ipvlan" } } }, s.deps);
    expect(s.calls[0]?.type).toBe("ipvlan");
  });
});

describe("flannel DEL", () => {
  it(
    "delegates DEL with the saved config without reading subnet.env, " + "then removes the file (checklist 73)",
    async () => {
      const s = setup();
      await flannelAdd({ containerID: "cid1", config: conf }, s.deps);
      const saved = s.scratches.get("/var/lib/cni/flannel")?.load("cid1");
      const down = setup({});
      down.scratches.set("/var/lib/cni/flannel", s.scratches.get("/var/lib/cni/flannel") ?? new MemoryScratch());
      await flannelDel({ containerID: "cid1", config: conf }, down.deps);
      expect(down.calls).toEqual([{ cmd: "DEL", type: "bridge", conf: saved }]);
      expect(down.scratches.get("/var/lib/cni/flannel")?.load("cid1")).toBeUndefined();
    },
  );

  it("rebuilds the delegate config from subnet.env when there is no saved one, and DELs with it", async () => {
    const s = setup();
    await flannelAdd({ containerID: "cid1", config: conf }, s.deps);
    const sent = s.calls[0]?.conf;
    s.deps.scratch("/var/lib/cni/flannel").remove("cid1");
    await flannelDel({ containerID: "cid1", config: conf }, s.deps);
    expect(s.calls[1]).toEqual({ cmd: "DEL", type: "bridge", conf: sent });
    expect(s.logs).toEqual([]);
  });

  it("succeeds without calling anything when there is neither a saved config nor subnet.env", async () => {
    const s = setup({});
    await flannelDel({ containerID: "never", config: conf }, s.deps);
    expect(s.calls).toEqual([]);
  });

  it("keeps the saved config when the delegate DEL fails, so a retried DEL can clean up", async () => {
    const s = setup();
    await flannelAdd({ containerID: "cid1", config: conf }, s.deps);
    s.failDel(new CniError(11, "busy"));
    await expect(flannelDel({ containerID: "cid1", config: conf }, s.deps)).rejects.toMatchObject({ code: 11 });
    expect(s.scratches.get("/var/lib/cni/flannel")?.load("cid1")).toBeDefined();
  });

  it.each([
    ["does not parse", "{not json"],
    ["has no string 'type'", '{"type": 7}'],
    ["does not parse", ""],
  ])("on a saved config that %s, DELs with the rebuilt config, logs it and removes the file", async (why, bad) => {
    const s = setup();
    const c = { ...conf, dataDir: "/d" };
    await flannelAdd({ containerID: "cid1", config: c }, s.deps);
    const sent = s.calls[0]?.conf;
    s.deps.scratch("/d").save("cid1", bad);
    await flannelDel({ containerID: "cid1", config: c }, s.deps);
    expect(s.calls[1]).toEqual({ cmd: "DEL", type: "bridge", conf: sent });
    expect(s.logs).toEqual([expect.stringContaining(`the saved delegate config of cid1 in /d ${why}`)]);
    expect(s.deps.scratch("/d").load("cid1")).toBeUndefined();
  });

  it("on an unreadable saved config (a FIFO, a directory) DELs with the rebuilt config and removes it", async () => {
    const s = setup();
    const scratch = s.deps.scratch("/var/lib/cni/flannel") as MemoryScratch;
    scratch.unreadable.set("cid1", "/var/lib/cni/flannel/cid1 is a FIFO, not a regular file");
    await flannelDel({ containerID: "cid1", config: conf }, s.deps);
    expect(s.calls.map((c) => c.cmd)).toEqual(["DEL"]);
    expect(s.logs[0]).toMatch(/cannot be read: .* is a FIFO/);
    expect(scratch.list()).toEqual([]);
  });

  it("answers 11 and keeps a corrupt saved config when subnet.env is gone too", async () => {
    const s = setup({});
    s.deps.scratch("/var/lib/cni/flannel").save("cid1", "{not json");
    const e = await codeOf(flannelDel({ containerID: "cid1", config: conf }, s.deps));
    expect(e.code).toBe(11);
    expect(e.msg).toMatch(/saved delegate config of cid1 .* does not parse.*cannot be rebuilt/);
    expect(s.calls).toEqual([]);
    expect(s.deps.scratch("/var/lib/cni/flannel").load("cid1")).toBe("{not json");
  });
});

describe("flannel STATUS and GC", () => {
  it("STATUS reports code 50 naming the file when subnet.env is missing", async () => {
    const s = setup({});
    const e = await codeOf(flannelStatus({ containerID: "", config: { ...conf, cniVersion: "1.1.0" } }, s.deps));
    expect(e.code).toBe(50);
    expect(e.msg).toContain("/run/flannel/subnet.env");
  });

  it("STATUS forwards to the delegate when flanneld has written its lease", async () => {
    const s = setup();
    await flannelStatus({ containerID: "", config: { ...conf, cniVersion: "1.1.0" } }, s.deps);
    expect(s.calls.map((c) => `${c.cmd} ${c.type}`)).toEqual(["STATUS bridge"]);
  });

  it("GC forwards the valid attachments to the delegate", async () => {
    const s = setup();
    const valid = [{ containerID: "a", ifname: "eth0" }];
    await flannelGc(
      { containerID: "", config: { ...conf, cniVersion: "1.1.0", "cni.dev/valid-attachments": valid } },
      s.deps,
    );
    expect(JSON.parse(s.calls[0]?.conf ?? "{}")["cni.dev/valid-attachments"]).toEqual(valid);
  });

  it("GC removes this network's saved configs of containers not in the valid list, and only those", async () => {
    const s = setup();
    const scratch = s.deps.scratch("/var/lib/cni/flannel") as MemoryScratch;
    for (const id of ["live", "gone", "gone-too"]) scratch.save(id, '{"name":"cbr0","type":"bridge"}');
    scratch.save("other-net", '{"name":"other","type":"bridge"}');
    scratch.save("corrupt", "{");
    scratch.unreadable.set("broken", "a FIFO");
    const valid = [{ containerID: "live", ifname: "eth0" }];
    await flannelGc(
      { containerID: "", config: { ...conf, cniVersion: "1.1.0", "cni.dev/valid-attachments": valid } },
      s.deps,
    );
    // another flannel network's saved config (a shared dataDir) is left to that network's GC
    expect(scratch.list()).toEqual(["live", "other-net"]);
    expect(s.calls.map((c) => c.cmd)).toEqual(["GC"]);
  });

  it("GC without a valid list leaves every saved config alone", async () => {
    const s = setup();
    const scratch = s.deps.scratch("/var/lib/cni/flannel") as MemoryScratch;
    scratch.save("c1", "{}");
    await flannelGc({ containerID: "", config: { ...conf, cniVersion: "1.1.0" } }, s.deps);
    expect(scratch.list()).toEqual(["c1"]);
  });
});
