import { describe, expect, it } from "vitest";
import { delegateAdd, delegateDel } from "../invoke/delegate.ts";
import { CniError, ErrorCode } from "../types/error.ts";
import type { PluginExec } from "../invoke/exec.ts";
import { inProcessResolver, type DefinitionLoader } from "./definition.ts";

const seen: { cmd: string | undefined; stdin: string }[] = [];
const fakeBridge: DefinitionLoader = async () => ({
  about: "fake",
  versions: ["0.3.1", "1.0.0", "1.1.0"],
  funcs: {
    add: async (a) => {
      seen.push({ cmd: "ADD", stdin: a.stdinData });
      return { cniVersion: "1.1.0", ips: [{ address: "10.1.2.2/24", gateway: "10.1.2.1" }] };
    },
    del: async (a) => {
      seen.push({ cmd: "DEL", stdin: a.stdinData });
      throw new CniError(ErrorCode.TryAgainLater, "busy", "later");
    },
  },
});

const noExec: PluginExec = {
  execPlugin: async () => {
    throw new Error("must not exec");
  },
  findInPath: (name) => `/opt/cni/bin/${name}`,
};

const env = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "c1",
  CNI_NETNS: "/var/run/netns/x",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin",
};
const conf = JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "bridge" });

describe("in-process delegation", () => {
  it("runs our plugin types through skel in this process and converts the result to the config version", async () => {
    const r = await delegateAdd("bridge", conf, {
      env,
      exec: noExec,
      inProcess: inProcessResolver({ bridge: fakeBridge }, env, () => true),
    });
    expect(r).toEqual({ cniVersion: "1.0.0", ips: [{ address: "10.1.2.2/24", gateway: "10.1.2.1" }] });
    expect(seen.at(-1)).toEqual({ cmd: "ADD", stdin: conf });
  });

  it("returns an in-process plugin's CNI error with its code, as for an exec'd plugin", async () => {
    const p = delegateDel("bridge", conf, {
      env,
      exec: noExec,
      inProcess: inProcessResolver({ bridge: fakeBridge }, env, () => true),
    });
    await expect(p).rejects.toMatchObject({ code: 11, msg: "busy", details: "later" });
  });

  it("execs types that are not ours", async () => {
    const calls: string[] = [];
    const exec: PluginExec = { ...noExec, execPlugin: async (req) => (calls.push(req.path), '{"cniVersion":"1.0.0"}') };
    await delegateAdd("macvlan", conf, {
      env,
      exec,
      inProcess: inProcessResolver({ bridge: fakeBridge }, env, () => true),
    });
    expect(calls).toEqual(["/opt/cni/bin/macvlan"]);
  });

  it.each(["1", "true", "TRUE"])("execs even our types when WEFT_NO_INPROCESS=%s", async (v) => {
    const calls: string[] = [];
    const exec: PluginExec = { ...noExec, execPlugin: async (req) => (calls.push(req.path), '{"cniVersion":"1.0.0"}') };
    const e2 = { ...env, WEFT_NO_INPROCESS: v };
    await delegateAdd("bridge", conf, {
      env: e2,
      exec,
      inProcess: inProcessResolver({ bridge: fakeBridge }, e2, () => true),
    });
    expect(calls).toEqual(["/opt/cni/bin/bridge"]);
  });

  it("execs the file CNI_PATH finds first when it is not this binary (the reference bridge before ours)", async () => {
    const calls: string[] = [];
    const exec: PluginExec = {
      findInPath: (name) => `/usr/lib/cni/${name}`,
      execPlugin: async (req) => (calls.push(req.path), '{"cniVersion":"1.0.0"}'),
    };
    await delegateAdd("bridge", conf, {
      env,
      exec,
      inProcess: inProcessResolver({ bridge: fakeBridge }, env, (p) => p.startsWith("/opt/cni/bin/")),
    });
    expect(calls).toEqual(["/usr/lib/cni/bridge"]);
  });

  it("runs our own implementation when no directory on CNI_PATH holds the type", async () => {
    const exec: PluginExec = {
      findInPath: (name) => {
        throw new CniError(ErrorCode.InvalidNetworkConfig, `failed to find plugin "${name}" in path [/opt/cni/bin]`);
      },
      execPlugin: async () => {
        throw new Error("must not exec");
      },
    };
    const r = await delegateAdd("bridge", conf, {
      env,
      exec,
      inProcess: inProcessResolver({ bridge: fakeBridge }, env, () => false),
    });
    expect(r.cniVersion).toBe("1.0.0");
    await expect(
      delegateAdd("macvlan", conf, { env, exec, inProcess: inProcessResolver({ bridge: fakeBridge }, env) }),
    ).rejects.toThrow(/failed to find plugin "macvlan"/);
  });
});
