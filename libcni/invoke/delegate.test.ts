import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { captureSink, NoopScratch, PLUGIN_DIR } from "../testing/plugins.ts";
import {
  delegateAdd,
  delegateCheck,
  delegateDel,
  delegateGC,
  delegateStatus,
  type InProcessPlugin,
} from "./delegate.ts";
import { RecordingExec } from "../testing/recording-exec.ts";

const ipamConf = JSON.stringify({ cniVersion: "1.0.0", name: "net", type: "noop" });
const parentEnv = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "c1",
  CNI_NETNS: "/run/netns/p",
  CNI_IFNAME: "eth0",
  CNI_ARGS: "IgnoreUnknown=1",
  CNI_PATH: `/nonexistent:${PLUGIN_DIR}`,
  PATH: process.env["PATH"] ?? "",
};

describe("delegation to another plugin", () => {
  let s: NoopScratch;
  beforeEach(() => {
    s = new NoopScratch();
  });
  afterEach(() => s.dispose());

  it(
    "finds the delegate on this process's CNI_PATH and runs " + "it with the inherited env, only CNI_COMMAND replaced",
    async () => {
      const env = { ...parentEnv, ...s.env() };
      await delegateDel("noop", ipamConf, { env });
      const [call] = s.calls();
      expect(call?.command).toBe("DEL");
      expect(call?.stdin).toBe(ipamConf);
      expect(call?.env).toEqual({
        CNI_COMMAND: "DEL",
        CNI_CONTAINERID: "c1",
        CNI_NETNS: "/run/netns/p",
        CNI_IFNAME: "eth0",
        CNI_ARGS: "IgnoreUnknown=1",
        CNI_PATH: parentEnv.CNI_PATH,
      });
    },
  );

  it.each([
    ["CHECK", delegateCheck],
    ["STATUS", delegateStatus],
    ["GC", delegateGC],
  ] as const)("sends %s with the same environment", async (cmd, fn) => {
    const exec = new RecordingExec();
    await fn("host-local", ipamConf, { env: parentEnv, exec });
    expect(exec.lastCall?.command).toBe(cmd);
    expect(exec.lastCall?.path).toBe("/nonexistent/host-local");
  });

  it("returns the delegate's ADD result, version-fixed", async () => {
    const r = await delegateAdd("noop", ipamConf, { env: { ...parentEnv, ...s.env() } });
    expect(r.cniVersion).toBe("1.0.0");
  });

  it("fails like the reference when the delegate is not on CNI_PATH", async () => {
    await expect(delegateAdd("nope", ipamConf, { env: parentEnv })).rejects.toThrow(
      `failed to find plugin "nope" in path [/nonexistent ${PLUGIN_DIR}]`,
    );
  });

  it("passes the delegate's CNI error through unchanged", async () => {
    s.setScript({ ADD: { stdout: { code: 11, msg: "no addresses left" }, exit: 1 } });
    const err = await delegateAdd("noop", ipamConf, { env: { ...parentEnv, ...s.env() } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 11, msg: "no addresses left" });
  });
});

describe("in-process delegation", () => {
  const fake = (out: {
    exitCode: number;
    stdout: string;
    stderr: string;
  }): InProcessPlugin & { seen: { env: unknown; stdin: string }[] } => {
    const seen: { env: unknown; stdin: string }[] = [];
    return {
      seen,
      run: async (io) => {
        seen.push({ env: io.env, stdin: io.stdin });
        return out;
      },
    };
  };

  it("runs the resolved plugin instead of exec'ing, with the same env and stdin", async () => {
    const p = fake({ exitCode: 0, stdout: '{"ips":[{"address":"10.0.0.9/24"}]}', stderr: "" });
    const exec = new RecordingExec();
    const r = await delegateAdd("host-local", ipamConf, {
      env: parentEnv,
      exec,
      inProcess: (t) => (t === "host-local" ? p : undefined),
    });
    expect(exec.calls).toHaveLength(0);
    expect(r.cniVersion).toBe("1.0.0");
    expect(p.seen).toEqual([{ env: { ...parentEnv, CNI_COMMAND: "ADD" }, stdin: ipamConf }]);
  });

  it("exec's when the resolver does not offer that type", async () => {
    const exec = new RecordingExec();
    await delegateDel("portmap", ipamConf, { env: parentEnv, exec, inProcess: () => undefined });
    expect(exec.commands()).toEqual(["DEL portmap"]);
  });

  it("reads an in-process failure exactly like an exec'd plugin's", async () => {
    const inProc = await delegateAdd("x", ipamConf, {
      env: parentEnv,
      inProcess: () => fake({ exitCode: 1, stdout: '{"code":7,"msg":"bad","details":"d"}', stderr: "" }),
    }).catch((e: unknown) => e);
    const exec = new RecordingExec().on("x", "ADD", {
      outcome: { exitCode: 1, stdout: '{"code":7,"msg":"bad","details":"d"}', stderr: "" },
    });
    const viaExec = await delegateAdd("x", ipamConf, { env: parentEnv, exec }).catch((e: unknown) => e);
    expect(inProc).toEqual(viaExec);
    expect(inProc).toMatchObject({ code: 7, message: "bad; d" });
    const quiet = await delegateDel("x", ipamConf, {
      env: parentEnv,
      inProcess: () => fake({ exitCode: 2, stdout: "", stderr: "boom" }),
    }).catch((e: unknown) => e);
    expect((quiet as Error).message).toBe('netplugin failed: "boom": exit status 2');
  });

  it("copies an in-process delegate's stderr to the sink", async () => {
    const sink = captureSink();
    await delegateDel("x", ipamConf, {
      env: parentEnv,
      stderr: sink,
      inProcess: () => fake({ exitCode: 0, stdout: "", stderr: "note\n" }),
    });
    expect(sink.text()).toBe("note\n");
  });

  it("gives an exec'd delegate the exec path of a handed-over netns; its output names the caller's path", async () => {
    const exec = new RecordingExec().respond((c) =>
      c.command === "ADD"
        ? {
            result: {
              cniVersion: "1.0.0",
              interfaces: [{ name: "eth0", sandbox: c.env["CNI_NETNS"] }],
              ips: [{ address: "10.1.2.3/24", interface: 0 }],
            },
          }
        : { error: { code: 3, msg: `no netns ${c.env["CNI_NETNS"]}`, details: `open ${c.env["CNI_NETNS"]}: gone` } },
    );
    const env = { ...parentEnv, CNI_NETNS: '/var/run/netns/pod "x"' };
    const opts = { env, exec, execNetns: "/proc/42/fd/7" };
    const r = await delegateAdd("noop", ipamConf, opts);
    expect(exec.calls[0]?.env["CNI_NETNS"]).toBe("/proc/42/fd/7");
    expect(r).toMatchObject({ interfaces: [{ name: "eth0", sandbox: '/var/run/netns/pod "x"' }] });
    await expect(delegateDel("noop", ipamConf, opts)).rejects.toMatchObject({
      code: 3,
      msg: 'no netns /var/run/netns/pod "x"',
      details: 'open /var/run/netns/pod "x": gone',
    });
  });
});
