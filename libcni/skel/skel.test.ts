import { describe, expect, it } from "vitest";
import { CniError } from "../types/error.ts";
import type { AnyResult, Result100 } from "../types/result.ts";
import { SPEC_VERSIONS } from "../version.ts";
import { dispatch, type CmdArgs, type PluginFuncs, type PluginIO } from "./skel.ts";

const RESULT: Result100 = {
  cniVersion: "1.1.0",
  interfaces: [{ name: "eth0", sandbox: "/some/netns/path" }],
  ips: [{ address: "10.1.2.3/24", gateway: "10.1.2.1", interface: 0 }],
};

interface Harness {
  io: PluginIO;
  out: { stdout: string; stderr: string; stdinReads: number };
  calls: { cmd: string; args: CmdArgs }[];
  funcs: PluginFuncs;
}

interface HarnessOptions {
  env?: Record<string, string | undefined>;
  stdin?: string | Error;
  result?: AnyResult;
  fail?: unknown;
  ownNetns?: string;
  optional?: boolean;
}

const ENV = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "some-container-id",
  CNI_NETNS: "/some/netns/path",
  CNI_IFNAME: "eth0",
  CNI_ARGS: "some;extra;args",
  CNI_PATH: "/some/cni/path:/other",
};

const conf = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ name: "skel-test", some: "config", cniVersion: "1.1.0", ...extra });

function harness(o: HarnessOptions = {}): Harness {
  const out = { stdout: "", stderr: "", stdinReads: 0 };
  const calls: { cmd: string; args: CmdArgs }[] = [];
  const stdin = o.stdin ?? conf();
  const io: PluginIO = {
    env: { ...ENV, ...o.env },
    readStdin: async () => {
      out.stdinReads++;
      if (stdin instanceof Error) throw stdin;
      return stdin;
    },
    stdout: (s) => {
      out.stdout += s;
    },
    stderr: (s) => {
      out.stderr += s;
    },
    ownNetns: (p) => (p === o.ownNetns ? "net:[4026531840]" : undefined),
  };
  const record = (cmd: string) => async (args: CmdArgs) => {
    calls.push({ cmd, args });
    if (o.fail !== undefined) throw o.fail;
  };
  const funcs: PluginFuncs = {
    add: async (args) => {
      await record("ADD")(args);
      return o.result ?? RESULT;
    },
    del: record("DEL"),
    ...(o.optional === false ? {} : { check: record("CHECK"), gc: record("GC"), status: record("STATUS") }),
  };
  return { io, out, calls, funcs };
}

async function run(o: HarnessOptions = {}, versions: readonly string[] = SPEC_VERSIONS, about = "") {
  const h = harness(o);
  const code = await dispatch(h.funcs, versions, about, h.io);
  const error = code === 0 ? undefined : (JSON.parse(h.out.stdout) as { code: number; msg: string; details?: string });
  return { ...h, code, error };
}

describe("skel ADD", () => {
  it("passes env and stdin to add once, and prints its result converted to the config version", async () => {
    const r = await run({ stdin: conf({ cniVersion: "0.4.0" }) });
    expect(r.code).toBe(0);
    expect(r.calls.map((c) => c.cmd)).toEqual(["ADD"]);
    expect(r.calls[0]?.args).toEqual({
      env: r.io.env,
      containerID: "some-container-id",
      netns: "/some/netns/path",
      ifName: "eth0",
      args: "some;extra;args",
      path: ["/some/cni/path", "/other"],
      stdinData: conf({ cniVersion: "0.4.0" }),
      config: { name: "skel-test", some: "config", cniVersion: "0.4.0" },
      cniVersion: "0.4.0",
      netnsOverride: false,
    });
    expect(r.out.stdout).toBe(`{
    "cniVersion": "0.4.0",
    "interfaces": [
        {
            "name": "eth0",
            "sandbox": "/some/netns/path"
        }
    ],
    "ips": [
        {
            "version": "4",
            "interface": 0,
            "address": "10.1.2.3/24",
            "gateway": "10.1.2.1"
        }
    ],
    "dns": {}
}`);
  });

  it.each(SPEC_VERSIONS)("[%s] prints the result in the config's version", async (v) => {
    const r = await run({ stdin: conf({ cniVersion: v }) });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out.stdout).cniVersion).toBe(v);
  });

  it("infers 0.1.0 when stdin has no cniVersion", async () => {
    const r = await run({ stdin: JSON.stringify({ name: "skel-test" }) });
    expect(r.calls[0]?.args.cniVersion).toBe("0.1.0");
    expect(JSON.parse(r.out.stdout)).toEqual({
      cniVersion: "0.1.0",
      ip4: { ip: "10.1.2.3/24", gateway: "10.1.2.1" },
      dns: {},
    });
  });

  it("refuses an unsupported config version before calling anything", async () => {
    const r = await run({ stdin: JSON.stringify({ name: "skel-test" }) }, ["4.3.2"]);
    expect(r.error).toMatchObject({
      code: 1,
      msg: "incompatible CNI versions",
      details: 'config is "0.1.0", plugin supports ["4.3.2"]',
    });
    expect(r.calls).toEqual([]);
  });

  it("reports a result that cannot be expressed in the config version", async () => {
    const r = await run({
      stdin: conf({ cniVersion: "0.2.0" }),
      result: { cniVersion: "1.1.0", interfaces: [{ name: "eth0" }] },
    });
    expect(r.error).toMatchObject({ code: 1, msg: "cannot convert: no valid IP addresses" });
  });

  it("hands the decoded prevResult to the plugin and rejects one of another version family with code 6", async () => {
    const prev = { cniVersion: "1.0.0", ips: [{ address: "10.1.2.3/24" }] };
    const ok = await run({ stdin: conf({ prevResult: prev }) });
    expect(ok.calls[0]?.args.prevResult).toEqual({ cniVersion: "1.1.0", ips: [{ address: "10.1.2.3/24" }] });
    const bad = await run({ stdin: conf({ prevResult: { cniVersion: "0.2.0", ip4: { ip: "10.1.2.3/24" } } }) });
    expect(bad.error).toMatchObject({
      code: 6,
      msg: 'could not parse prevResult: result type supports [1.0.0 1.1.0] but unmarshalled CNIVersion is "0.2.0"',
    });
    expect(bad.calls).toEqual([]);
  });

  it("lets DEL run without a prevResult that does not decode, warning on stderr", async () => {
    const r = await run({ env: { CNI_COMMAND: "DEL" }, stdin: conf({ prevResult: { cniVersion: "0.4.0" } }) });
    expect(r.code).toBe(0);
    expect(r.calls.map((c) => c.cmd)).toEqual(["DEL"]);
    expect(r.calls[0]?.args.prevResult).toBeUndefined();
    expect(r.out.stderr).toContain("warning: DEL continues without prevResult: could not parse prevResult");
  });

  it(
    "refuses ADD, DEL and CHECK with code 8 naming the namespace before the plugin runs when CNI_NETNS is the " +
      "plugin's own netns, unless CNI_NETNS_OVERRIDE is 1 or true",
    async () => {
      for (const cmd of ["ADD", "DEL", "CHECK"]) {
        const r = await run({ ownNetns: "/some/netns/path", env: { CNI_COMMAND: cmd } });
        expect(r.error, cmd).toMatchObject({
          code: 8,
          msg: "plugin's netns and netns from CNI_NETNS should not be the same",
          details: expect.stringContaining("CNI_NETNS=/some/netns/path is net:[4026531840]"),
        });
        // refused before the plugin ran: nothing it could change was touched
        expect(r.calls, cmd).toEqual([]);
      }
      for (const o of ["1", "true", "TRUE"]) {
        const ok = await run({ ownNetns: "/some/netns/path", env: { CNI_NETNS_OVERRIDE: o } });
        expect(ok.code).toBe(0);
        expect(ok.calls[0]?.args.netnsOverride).toBe(true);
      }
    },
  );
});

describe("skel environment", () => {
  const ADD_CHECK = ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"];
  const cases = ["ADD", "CHECK"].flatMap((cmd) => ADD_CHECK.map((v) => [cmd, v] as const));

  it.each(cases)("%s without %s fails with code 4 naming it", async (cmd, name) => {
    const r = await run({ env: { CNI_COMMAND: cmd, [name]: undefined } });
    expect(r.error).toMatchObject({ code: 4, msg: `required env variables [${name}] missing` });
    expect(r.calls).toEqual([]);
  });

  it.each(["ADD", "CHECK", "DEL"])("%s runs without CNI_ARGS", async (cmd) => {
    const r = await run({ env: { CNI_COMMAND: cmd, CNI_ARGS: undefined } });
    expect(r.code).toBe(0);
    expect(r.calls[0]?.args.args).toBe("");
  });

  it("reports all missing variables at once, in declaration order, saying what the command needs", async () => {
    const r = await run({ env: { CNI_PATH: "", CNI_NETNS: undefined, CNI_IFNAME: undefined } });
    expect(r.error).toEqual({
      code: 4,
      msg: "required env variables [CNI_NETNS,CNI_IFNAME,CNI_PATH] missing",
      details: "CNI_COMMAND=ADD needs CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME and CNI_PATH set to non-empty values",
    });
  });

  it.each([
    ["CNI_CONTAINERID", undefined, "required env variables [CNI_CONTAINERID] missing"],
    ["CNI_NETNS", undefined, "ok"],
    ["CNI_IFNAME", undefined, "required env variables [CNI_IFNAME] missing"],
    ["CNI_PATH", undefined, "required env variables [CNI_PATH] missing"],
  ])("DEL with %s unset: %s", async (name, value, want) => {
    const r = await run({ env: { CNI_COMMAND: "DEL", [name]: value } });
    if (want === "ok") expect(r.calls.map((c) => c.cmd)).toEqual(["DEL"]);
    else expect(r.error).toMatchObject({ code: 4, msg: want });
  });

  it("rejects a container ID with invalid characters, with the ID in the details", async () => {
    const r = await run({ env: { CNI_CONTAINERID: "some-%%container-id" } });
    expect(r.error?.code).toBe(4);
    expect(r.error?.msg).toBe("invalid characters in containerID");
    expect(r.error?.details?.startsWith("some-%%container-id")).toBe(true);
  });

  it.each([
    ["a".repeat(16), "interface name is too long"],
    [".", "interface name is . or .."],
    ["..", "interface name is . or .."],
    ["eth/0", "interface name contains / or : or whitespace characters"],
    ["eth:0", "interface name contains / or : or whitespace characters"],
    ["eth 0", "interface name contains / or : or whitespace characters"],
  ])("rejects CNI_IFNAME %j with code 4: %s", async (ifname, msg) => {
    const r = await run({ env: { CNI_IFNAME: ifname } });
    expect(r.error).toMatchObject({ code: 4, msg });
  });

  it("rejects an unknown command with code 4, listing the known ones", async () => {
    const r = await run({ env: { CNI_COMMAND: "NOPE" } });
    expect(r.error).toEqual({
      code: 4,
      msg: "unknown CNI_COMMAND: NOPE",
      details: "CNI_COMMAND must be one of ADD, DEL, CHECK, GC, STATUS, VERSION",
    });
  });

  it("prints the about text and supported versions on stderr when CNI_COMMAND is unset, and exits 0", async () => {
    const r = await run(
      { env: { CNI_COMMAND: undefined, CNI_CONTAINERID: undefined } },
      ["9.8.7", "10.0.0"],
      "AWESOME PLUGIN",
    );
    expect(r.code).toBe(0);
    expect(r.out.stderr).toBe("AWESOME PLUGIN\nCNI protocol versions supported: 9.8.7, 10.0.0\n");
    expect(r.out.stdout).toBe("");
  });

  it("without an about text, a missing CNI_COMMAND is a code 4 error", async () => {
    const r = await run({ env: { CNI_COMMAND: undefined } });
    expect(r.error).toMatchObject({ code: 4, msg: "required env variables [CNI_COMMAND] missing" });
  });
});

describe("skel stdin", () => {
  it("reports a stdin read failure with code 5", async () => {
    const r = await run({ stdin: new Error("banana") });
    expect(r.error).toEqual({ code: 5, msg: "error reading from stdin: banana" });
  });

  it("reports empty stdin with the reference's words", async () => {
    const r = await run({ stdin: " \n" });
    expect(r.error).toMatchObject({ code: 6, msg: "error unmarshall network config: unexpected end of JSON input" });
  });

  it.each(["", "{", "not json"])("reports invalid JSON %j with code 6", async (stdin) => {
    const r = await run({ stdin });
    expect(r.error?.code).toBe(6);
    expect(r.error?.msg.startsWith("error unmarshall network config: ")).toBe(true);
  });

  it.each([
    ['{"name": 5}', 6, 'error unmarshall network config: "name" must be a string, got 5'],
    ["[]", 6, "error unmarshall network config: the configuration must be a JSON object, got an array"],
    ["{}", 7, "missing network name"],
    ["null", 7, "missing network name"],
    ['{"name":"te%%st"}', 7, "invalid characters found in network name"],
    ['{"name":"n","cniVersion":1}', 6, 'decoding version from network config: "cniVersion" must be a string, got 1'],
    [
      '{"name":"n","delegate":{"mtu":1e400}}',
      7,
      'error unmarshall network config: "delegate.mtu" is a number beyond what a double can hold',
    ],
    [
      '{"name":"n","ipam":{"ranges":[[{"x":-1e999}]]}}',
      7,
      'error unmarshall network config: "ipam.ranges[0][0].x" is a number beyond what a double can hold',
    ],
  ])("rejects %s with code %i before any callback", async (stdin, code, msg) => {
    const r = await run({ stdin });
    expect(r.error).toMatchObject({ code, msg });
    expect(r.calls).toEqual([]);
  });

  it("finds name and cniVersion case-insensitively", async () => {
    const r = await run({ stdin: '{"Name":"n","CNIVersion":"0.3.1"}' });
    expect(r.calls[0]?.args.cniVersion).toBe("0.3.1");
  });
});

describe("skel VERSION", () => {
  it("prints compact version info with a newline using only CNI_COMMAND, never reading stdin", async () => {
    const h = harness({ stdin: new Error("must not be read") });
    const code = await dispatch(h.funcs, SPEC_VERSIONS, "", { ...h.io, env: { CNI_COMMAND: "VERSION" } });
    expect(code).toBe(0);
    expect(h.out.stdout).toBe(
      '{"cniVersion":"1.1.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n',
    );
    expect(h.out.stdinReads).toBe(0);
  });
});

describe("skel CHECK, GC and STATUS version gates", () => {
  it.each([
    ["CHECK", "0.3.1", "config version does not allow CHECK"],
    ["GC", "1.0.0", "config version does not allow GC"],
    ["STATUS", "1.0.0", "config version does not allow STATUS"],
  ])("%s with a %s config fails with code 1: %s", async (cmd, v, msg) => {
    const r = await run({ env: { CNI_COMMAND: cmd }, stdin: conf({ cniVersion: v }) });
    expect(r.error).toMatchObject({ code: 1, msg });
    expect(r.calls).toEqual([]);
  });

  it.each([
    ["CHECK", "0.4.0", ["0.3.0", "0.3.1"]],
    ["GC", "1.1.0", ["1.0.0"]],
    ["STATUS", "1.1.0", ["0.4.0", "1.0.0"]],
  ])("%s fails with code 1 when the plugin supports nothing as new as %s", async (cmd, v, versions) => {
    const r = await run({ env: { CNI_COMMAND: cmd }, stdin: conf({ cniVersion: v }) }, versions);
    expect(r.error).toMatchObject({ code: 1, msg: `plugin version does not allow ${cmd}` });
  });

  it("reports an unparsable config or plugin version with code 6", async () => {
    const bad = await run({ env: { CNI_COMMAND: "CHECK" }, stdin: conf({ cniVersion: "adsfsadf" }) });
    expect(bad.error?.code).toBe(6);
    const badPlugin = await run({ env: { CNI_COMMAND: "CHECK" }, stdin: conf({ cniVersion: "0.4.0" }) }, ["adsfsadf"]);
    expect(badPlugin.error?.code).toBe(6);
  });

  it.each(["CHECK", "GC", "STATUS"])("%s calls its callback with a 1.1.0 config", async (cmd) => {
    const r = await run({ env: { CNI_COMMAND: cmd } });
    expect([r.code, r.calls.map((c) => c.cmd), r.out.stdout]).toEqual([0, [cmd], ""]);
  });

  it("GC and STATUS need only CNI_COMMAND and CNI_PATH", async () => {
    for (const cmd of ["GC", "STATUS"]) {
      const r = await run({
        env: { CNI_COMMAND: cmd, CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined },
      });
      expect(r.code).toBe(0);
      const noPath = await run({ env: { CNI_COMMAND: cmd, CNI_PATH: undefined } });
      expect(noPath.error).toMatchObject({ code: 4, msg: "required env variables [CNI_PATH] missing" });
    }
  });

  it("succeeds silently when the plugin has no callback for the command", async () => {
    for (const cmd of ["CHECK", "GC", "STATUS"]) {
      const r = await run({ env: { CNI_COMMAND: cmd }, optional: false });
      expect([r.code, r.out.stdout, r.calls]).toEqual([0, "", []]);
    }
  });
});

describe("skel callback errors", () => {
  it("prints a typed error unchanged, 4-space indented, and exits 1", async () => {
    const r = await run({ fail: new CniError(1234, "some message", "some details") });
    expect(r.code).toBe(1);
    expect(r.out.stdout).toBe('{\n    "code": 1234,\n    "msg": "some message",\n    "details": "some details"\n}');
  });

  it("turns an untyped error into code 999 with its message", async () => {
    const r = await run({ env: { CNI_COMMAND: "DEL" }, fail: new Error("potato") });
    expect(r.error).toEqual({ code: 999, msg: "potato" });
  });

  it("keeps the code of an internal error that carries cniCode", async () => {
    const e = Object.assign(new Error("lease store busy"), { cniCode: 11, cniDetails: "retry" });
    const r = await run({ fail: e });
    expect(r.error).toEqual({ code: 11, msg: "lease store busy", details: "retry" });
  });

  it("escapes <, > and & in error JSON as Go does", async () => {
    const r = await run({ fail: new CniError(7, "a<b>&c") });
    expect(r.out.stdout).toContain('"msg": "a\\u003cb\\u003e\\u0026c"');
  });
});
