// Differential run: our dist/bin/host-local against Debian's /usr/lib/cni/host-local (v1.1.1, spec up
// to 1.0.0), same env and stdin. (1) Side by side on separate dataDirs: stdout JSON and the files
// left behind must match byte for byte after every step. (2) Interleaved on ONE dataDir: concurrent
// ADDs from both implementations must never hand out an address twice (the flock is shared), and
// DELs by the other implementation must free everything. host-local touches no netns, so CNI_NETNS
// only has to be set. Needs `npm run build` first.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WEFT_PLUGIN_DIR, referencePlugin, requireBuilt } from "../../netns-fixtures/oracles/reference.ts";

const OURS = join(WEFT_PLUGIN_DIR, "host-local");
let REF = "";
let root = "";

beforeAll(() => {
  requireBuilt();
  requireBuilt(OURS);
  REF = referencePlugin("host-local");
  root = mkdtempSync(join(tmpdir(), "weft-hl-diff-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}
interface Req {
  readonly cmd: string;
  readonly conf: object;
  readonly id?: string;
  readonly ifname?: string;
  readonly cniArgs?: string;
}

function exec(bin: string, r: Req): Promise<Run> {
  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "/usr/bin:/bin",
    CNI_COMMAND: r.cmd,
    CNI_CONTAINERID: r.id ?? "ctr",
    CNI_NETNS: "/var/run/netns/weft-hl-none",
    CNI_IFNAME: r.ifname ?? "eth0",
    CNI_PATH: "/opt/cni/bin",
  };
  if (r.cniArgs !== undefined) env["CNI_ARGS"] = r.cniArgs;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn(bin, [], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0 }));
    p.stdin.end(JSON.stringify(r.conf));
  });
}

/** Every file of a network dir: name -> content (and mode, compared separately). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) out[name] = readFileSync(join(dir, name), "latin1");
  return out;
}
const modes = (dir: string) =>
  Object.fromEntries(readdirSync(dir).map((n) => [n, (statSync(join(dir, n)).mode & 0o777).toString(8)]));

function conf(version: string, dataDir: string, ipam: object, extra: object = {}): object {
  return {
    cniVersion: version,
    name: "diffnet",
    type: "host-local",
    ipam: { type: "host-local", dataDir, ...ipam },
    ...extra,
  };
}

/**
 * Output as compared: parsed JSON for success; {msg} for errors (codes differ on purpose: the
 * reference says 999). An empty "dns": {} is dropped: Debian's v1.1.1 prints it for 1.0.0 results,
 * current upstream (and we) omit it there; 0.3.x/0.4.0 print it in both.
 */
function comparable(r: Run): unknown {
  const parsed: unknown = r.stdout === "" ? null : JSON.parse(r.stdout);
  if (r.code === 0) {
    if (parsed === null) return { ok: null };
    const obj = parsed as Record<string, unknown>;
    const dns = obj["dns"];
    if (typeof dns === "object" && dns !== null && Object.keys(dns).length === 0) delete obj["dns"];
    return { ok: obj };
  }
  return { failed: (parsed as { msg?: unknown } | null)?.msg };
}

interface Step {
  readonly label: string;
  readonly req: (dataDir: string) => Req;
}

async function sideBySide(name: string, steps: readonly Step[]): Promise<void> {
  const ourDir = join(root, name, "ours");
  const refDir = join(root, name, "ref");
  for (const step of steps) {
    const [ours, ref] = [await exec(OURS, step.req(ourDir)), await exec(REF, step.req(refDir))];
    expect({ step: step.label, ...(comparable(ours) as object) }).toEqual({
      step: step.label,
      ...(comparable(ref) as object),
    });
    expect(snapshot(join(ourDir, "diffnet")), step.label).toEqual(snapshot(join(refDir, "diffnet")));
  }
}

const V4 = { ranges: [[{ subnet: "10.244.31.0/29" }]], routes: [{ dst: "0.0.0.0/0" }] };

describe.each(["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"])(
  "ours vs reference host-local, side by side [%s]",
  (version) => {
    it(
      "ADD, ADD, DEL, ADD (round robin), a duplicate ADD, " + "exhaustion and DEL give identical output and files",
      async () => {
        const c = (dataDir: string) => conf(version, dataDir, V4);
        const add = (id: string): Step => ({ label: `ADD ${id}`, req: (d) => ({ cmd: "ADD", conf: c(d), id }) });
        const del = (id: string): Step => ({ label: `DEL ${id}`, req: (d) => ({ cmd: "DEL", conf: c(d), id }) });
        const check = (id: string): Step[] =>
          version === "0.4.0" || version === "1.0.0"
            ? [{ label: `CHECK ${id}`, req: (d) => ({ cmd: "CHECK", conf: c(d), id }) }]
            : [];
        await sideBySide(`seq-${version}`, [
          ...check("a"),
          add("a"),
          ...check("a"),
          add("b"),
          del("a"),
          ...check("a"),
          add("c"),
          add("b"),
          add("d"),
          add("e"),
          add("f"),
          add("g"),
          del("b"),
          del("unknown"),
          del("c"),
          del("d"),
          del("e"),
          del("f"),
          del("g"),
        ]);
      },
    );

    it("requested IPs (CNI_ARGS and args.cni.ips) and their errors match", async () => {
      const c = (dataDir: string, extra: object = {}) =>
        conf(version, dataDir, { ranges: [[{ subnet: "10.244.32.0/24" }]] }, extra);
      await sideBySide(`req-${version}`, [
        {
          label: "IP=.50",
          req: (d) => ({ cmd: "ADD", conf: c(d), id: "a", cniArgs: "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.244.32.50" }),
        },
        { label: "IP=.50 again", req: (d) => ({ cmd: "ADD", conf: c(d), id: "b", cniArgs: "IP=10.244.32.50" }) },
        {
          label: "args.cni.ips .60",
          req: (d) => ({ cmd: "ADD", conf: c(d, { args: { cni: { ips: ["10.244.32.60"] } } }), id: "c" }),
        },
        { label: "gateway", req: (d) => ({ cmd: "ADD", conf: c(d), id: "e", cniArgs: "IP=10.244.32.1" }) },
        { label: "outside", req: (d) => ({ cmd: "ADD", conf: c(d), id: "f", cniArgs: "IP=10.9.9.9" }) },
        { label: "next after requested", req: (d) => ({ cmd: "ADD", conf: c(d), id: "g" }) },
      ]);
    });
  },
);

describe.each(["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"])(
  "ours vs reference host-local, dual stack [%s]",
  (version) => {
    it("two IPv4 ranges in one set plus IPv6: identical output, last_reserved_ip per set, and files", async () => {
      const ipam = {
        ranges: [
          [
            { subnet: "10.244.33.0/30" },
            {
              subnet: "10.244.34.0/24",
              rangeStart: "10.244.34.10",
              rangeEnd: "10.244.34.11",
              gateway: "10.244.34.254",
            },
          ],
          [{ subnet: "2001:db8:33::/64" }],
        ],
        routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }, { dst: "192.168.0.0/16", gw: "10.244.33.1" }],
      };
      const c = (dataDir: string) => conf(version, dataDir, ipam);
      const add = (id: string, ifname = "eth0"): Step => ({
        label: `ADD ${id}/${ifname}`,
        req: (d) => ({ cmd: "ADD", conf: c(d), id, ifname }),
      });
      const del = (id: string, ifname = "eth0"): Step => ({
        label: `DEL ${id}/${ifname}`,
        req: (d) => ({ cmd: "DEL", conf: c(d), id, ifname }),
      });
      await sideBySide(`dual-${version}`, [
        add("a"),
        add("a", "eth1"),
        add("b"),
        del("a"),
        add("c"),
        add("d"),
        del("a", "eth1"),
        del("b"),
        del("c"),
      ]);
    });
  },
);

describe.each(["0.1.0", "0.2.0", "0.3.0", "1.0.0"])("ours vs reference host-local, config errors [%s]", (version) => {
  it("two IPv4 range sets, overlaps, bad ranges and a missing ipam give the same messages", async () => {
    const bad = (label: string, ipam: object | undefined, cmd = "ADD"): Step => ({
      label,
      req: (d) => ({
        cmd,
        conf:
          ipam === undefined ? { cniVersion: version, name: "diffnet", type: "host-local" } : conf(version, d, ipam),
      }),
    });
    const twoV4 = { ranges: [[{ subnet: "10.244.35.0/24" }], [{ subnet: "10.244.36.0/24" }]] };
    await sideBySide(`errors-${version}`, [
      bad("two v4 sets ADD", twoV4),
      bad("two v4 sets DEL", twoV4, "DEL"),
      bad("overlap", { ranges: [[{ subnet: "10.244.35.0/24" }], [{ subnet: "10.244.35.0/25" }]] }),
      bad("overlap in set", { ranges: [[{ subnet: "10.244.35.0/24" }, { subnet: "10.244.35.128/25" }]] }),
      bad("too small", { ranges: [[{ subnet: "10.244.35.0/31" }]] }),
      bad("host bits", { ranges: [[{ subnet: "10.244.35.7/24" }]] }),
      bad("start outside", { ranges: [[{ subnet: "10.244.35.0/24", rangeStart: "10.244.36.1" }]] }),
      bad("end before start", {
        ranges: [[{ subnet: "10.244.35.0/24", rangeStart: "10.244.35.50", rangeEnd: "10.244.35.40" }]],
      }),
      bad("mixed families", { ranges: [[{ subnet: "10.244.35.0/24" }, { subnet: "2001:db8:35::/64" }]] }),
      bad("no ranges", { type: "host-local" }),
      bad("ok after all that", { ranges: [[{ subnet: "10.244.35.0/24" }]] }),
    ]);
  });
});

describe.each(["0.4.0", "1.0.0"])("ours vs reference host-local, legacy 'ID only' files [%s]", (version) => {
  it("CHECK finds them and DEL removes them, also next to current-format files with two range sets", async () => {
    const ipam = { ranges: [[{ subnet: "10.244.41.0/24" }], [{ subnet: "2001:db8:41::/64" }]] };
    const c = (d: string) => conf(version, d, ipam);
    const dirs = [join(root, `legacy-${version}`, "ours"), join(root, `legacy-${version}`, "ref")];
    const seed = (d: string) => {
      writeFileSync(join(d, "diffnet", "10.244.41.77"), "old-ctr");
      writeFileSync(join(d, "diffnet", "10.244.41.78"), "  both\n");
    };
    const step = (label: string, cmd: string, id: string): Step => ({ label, req: (d) => ({ cmd, conf: c(d), id }) });
    await sideBySide(`legacy-${version}`, [step("ADD both", "ADD", "both")]);
    dirs.forEach(seed);
    await sideBySide(`legacy-${version}`, [
      step("CHECK legacy", "CHECK", "old-ctr"),
      step("DEL legacy", "DEL", "old-ctr"),
      step("CHECK gone", "CHECK", "old-ctr"),
      step("DEL both (current + legacy)", "DEL", "both"),
    ]);
  });
});

describe("ours vs reference host-local, edge inputs (one ADD each, output and files compared)", () => {
  const r24 = [[{ subnet: "10.244.37.0/24" }]];
  const cases: readonly (readonly [string, object, object?, string?])[] = [
    ["empty subnet", { ranges: [[{ subnet: "" }]] }],
    ["prefix too long", { ranges: [[{ subnet: "10.244.37.0/40" }]] }],
    ["IPv6 host bits", { ranges: [[{ subnet: "2001:db8:37::1/64" }]] }],
    ["IPv4-mapped subnet", { ranges: [[{ subnet: "::ffff:10.244.37.0/120" }]] }],
    ["empty rangeStart means unset", { ranges: [[{ subnet: "10.244.37.0/24", rangeStart: "" }]] }],
    ["IPv6 gateway on an IPv4 range", { ranges: [[{ subnet: "10.244.37.0/24", gateway: "2001:db8::1" }]] }],
    [
      "routes with host bits and gateways",
      { ranges: r24, routes: [{ dst: "10.244.37.3/24" }, { dst: "::/0", gw: "2001:db8::1" }] },
    ],
    ["bad route dst", { ranges: r24, routes: [{ dst: "nope" }] }],
    ["ranges null", { ranges: null }],
    ["keys in other cases", { Ranges: [[{ Subnet: "10.244.37.0/24", RangeStart: "10.244.37.100" }]] }],
    ["legacy keys only", { subnet: "10.244.38.0/24", gateway: "10.244.38.254" }],
    ["legacy keys plus ranges", { subnet: "10.244.38.0/24", ranges: [[{ subnet: "2001:db8:38::/64" }]] }],
    ["IPv6 /126", { ranges: [[{ subnet: "2001:db8:39::/126" }]] }],
    ["/30 with rangeEnd at broadcast", { ranges: [[{ subnet: "10.244.37.0/30", rangeEnd: "10.244.37.3" }]] }],
    [
      "gateway equal to rangeStart",
      {
        ranges: [
          [{ subnet: "10.244.37.0/24", rangeStart: "10.244.37.5", rangeEnd: "10.244.37.6", gateway: "10.244.37.5" }],
        ],
      },
    ],
    ["CNI_ARGS IP= empty", { ranges: r24 }, {}, "IP="],
    ["CNI_ARGS IP with another prefix", { ranges: r24 }, {}, "IP=10.244.37.9/8"],
    ["CNI_ARGS bad IP", { ranges: r24 }, {}, "IP=foo"],
    ["CNI_ARGS IgnoreUnknown=TRUE", { ranges: r24 }, {}, "IgnoreUnknown=TRUE;X=1"],
    ["CNI_ARGS trailing ;", { ranges: r24 }, {}, "IP=10.244.37.9;"],
    ["CNI_ARGS lowercase ip", { ranges: r24 }, {}, "ip=10.244.37.9"],
    ["args.cni.ips bad", { ranges: r24 }, { args: { cni: { ips: ["foo"] } } }],
    ["the same IP requested twice", { ranges: r24 }, { args: { cni: { ips: ["10.244.37.5", "10.244.37.5/24"] } } }],
    [
      "runtimeConfig.ips IPv6",
      { ranges: [...r24, [{ subnet: "2001:db8:37::/64" }]] },
      { runtimeConfig: { ips: ["2001:db8:37::abcd"] } },
    ],
    [
      "runtimeConfig.ipRanges",
      { ranges: r24 },
      { runtimeConfig: { ipRanges: [[{ subnet: "10.244.39.0/24", rangeStart: "10.244.39.50" }]] } },
    ],
    [
      "runtimeConfig.ipRanges overlapping",
      { ranges: r24 },
      { runtimeConfig: { ipRanges: [[{ subnet: "10.244.37.0/25" }]] } },
    ],
    ["requested IP outside every range", { ranges: r24 }, { args: { cni: { ips: ["10.244.99.5"] } } }],
  ];
  it.each(cases.map((c, i) => [c[0], i, c] as const))("%s", async (_label, i, [label, ipam, extra, cniArgs]) => {
    await sideBySide(`edge-${i}`, [
      {
        label,
        req: (d) => ({
          cmd: "ADD",
          conf: conf("1.0.0", d, ipam, extra ?? {}),
          ...(cniArgs === undefined ? {} : { cniArgs }),
        }),
      },
    ]);
  });
});

describe("ours and the reference on ONE dataDir", () => {
  it("50 concurrent ADDs (25 each) hand out 50 distinct IPs, and cross-implementation DELs free them all", async () => {
    const dataDir = join(root, "shared");
    const c = conf("1.0.0", dataDir, { ranges: [[{ subnet: "10.244.40.0/24" }]] });
    const ids = Array.from({ length: 50 }, (_, i) => `ctr-${i}`);
    const bin = (i: number, swap = false) => ((i % 2 === 0) !== swap ? OURS : REF);
    const adds = await Promise.all(ids.map((id, i) => exec(bin(i), { cmd: "ADD", conf: c, id })));
    for (const r of adds) expect(r.code, r.stdout + r.stderr).toBe(0);
    const ips = adds.map((r) => (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]?.address);
    expect(new Set(ips).size).toBe(50);
    const dir = join(dataDir, "diffnet");
    const files = snapshot(dir);
    ids.forEach((id, i) => expect(files[(ips[i] ?? "").split("/")[0] ?? ""]).toBe(`${id}\r\neth0`));

    const dels = await Promise.all(ids.map((id, i) => exec(bin(i, true), { cmd: "DEL", conf: c, id })));
    for (const r of dels) expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(Object.keys(snapshot(dir)).filter((n) => n !== "lock" && !n.startsWith("last_reserved_ip."))).toEqual([]);
  });
});

describe("the lock is the reference's", () => {
  it("our ADD waits while another process holds flock on <dir>/lock, then succeeds", async () => {
    const dataDir = join(root, "held");
    const c = conf("1.0.0", dataDir, V4);
    expect((await exec(OURS, { cmd: "ADD", conf: c, id: "first" })).code).toBe(0);
    const holder = spawn("flock", [join(dataDir, "diffnet", "lock"), "sleep", "1"], { stdio: "ignore" });
    const released = new Promise((res) => holder.on("close", res));
    await new Promise((r) => setTimeout(r, 200));
    const r = await exec(OURS, { cmd: "ADD", conf: c, id: "second" });
    await released;
    expect(r.code, r.stdout).toBe(0);
    expect(r.ms).toBeGreaterThan(600);
  });
});

describe("what differs on purpose", () => {
  it("our files are 0600 (current upstream); Debian's v1.1.1 writes 0644; the lock file is 0750 in both", async () => {
    const c = (d: string) => conf("1.0.0", d, V4);
    const ourDir = join(root, "modes", "ours");
    const refDir = join(root, "modes", "ref");
    await exec(OURS, { cmd: "ADD", conf: c(ourDir), id: "m" });
    await exec(REF, { cmd: "ADD", conf: c(refDir), id: "m" });
    expect(modes(join(ourDir, "diffnet"))).toEqual({ "10.244.31.2": "600", "last_reserved_ip.0": "600", lock: "750" });
    expect(modes(join(refDir, "diffnet"))).toMatchObject({ "10.244.31.2": "644", lock: "750" });
  });

  it('a 1.0.0 result without DNS omits "dns" (current upstream); Debian\'s v1.1.1 prints "dns": {}', async () => {
    const c = (d: string) => conf("1.0.0", d, V4);
    const ours = JSON.parse(
      (await exec(OURS, { cmd: "ADD", conf: c(join(root, "dns", "ours")), id: "d" })).stdout,
    ) as object;
    const ref = JSON.parse(
      (await exec(REF, { cmd: "ADD", conf: c(join(root, "dns", "ref")), id: "d" })).stdout,
    ) as object;
    expect(ours).not.toHaveProperty("dns");
    expect(ref).toHaveProperty("dns", {});
  });

  it(
    "route mtu/table/scope are passed through (current upstream); " + "Debian's v1.1.1 predates them and drops them",
    async () => {
      const routes = [{ dst: "0.0.0.0/0", gw: "10.244.31.1", mtu: 1400, table: 100, scope: 0 }];
      const c = (d: string) => conf("1.0.0", d, { ...V4, routes });
      const ours = JSON.parse(
        (await exec(OURS, { cmd: "ADD", conf: c(join(root, "rt", "ours")), id: "r" })).stdout,
      ) as {
        routes: object[];
      };
      const ref = JSON.parse((await exec(REF, { cmd: "ADD", conf: c(join(root, "rt", "ref")), id: "r" })).stdout) as {
        routes: object[];
      };
      expect(ours.routes).toEqual(routes);
      expect(ref.routes).toEqual([{ dst: "0.0.0.0/0", gw: "10.244.31.1" }]);
    },
  );

  it("errors carry a CNI code instead of the reference's 999, with the same msg", async () => {
    const c = (d: string) => conf("1.0.0", d, V4);
    const d1 = join(root, "codes", "ours");
    const d2 = join(root, "codes", "ref");
    for (const [bin, d] of [
      [OURS, d1],
      [REF, d2],
    ] as const)
      await exec(bin, { cmd: "ADD", conf: c(d), id: "x" });
    const ours = JSON.parse((await exec(OURS, { cmd: "ADD", conf: c(d1), id: "x" })).stdout) as {
      code: number;
      msg: string;
    };
    const ref = JSON.parse((await exec(REF, { cmd: "ADD", conf: c(d2), id: "x" })).stdout) as {
      code: number;
      msg: string;
    };
    expect(ours.msg).toBe(ref.msg);
    expect(ref.code).toBe(999);
    expect(ours.code).toBe(4);
  });
});
