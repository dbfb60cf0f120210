// Differential: our cnitool (libcni in TypeScript) and a cnitool built on the reference Go libcni drive
// the same reference plugins (Debian's bridge + host-local) through ADD, CHECK and DEL in a fresh node
// and pod netns each; the results and the state left behind (links, addresses, routes, IPAM files,
// result cache) must match, modulo random veth names and MACs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CniScratch, cnitool, snapshotFiles, type CniRuntimeSpec } from "../netns-fixtures/topology/cni.ts";
import {
  GO_CNITOOL,
  REFERENCE_PLUGIN_DIR,
  WEFT_PLUGIN_DIR,
  requireBuilt,
} from "../netns-fixtures/oracles/reference.ts";
import { ipJson, run } from "../netns-fixtures/topology/sh.ts";
import { Topology, runPrefix, sweepStale } from "../netns-fixtures/topology/topology.ts";

const prefix = runPrefix();
const NET = "diffnet";

interface Outcome {
  add: { code: number; result: unknown; stderr: string };
  afterAdd: unknown;
  check: { code: number; stderr: string };
  del: { code: number; stderr: string };
  afterDel: unknown;
  del2: { code: number; stderr: string };
}

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;
/** Mask what is random per run: MACs, veth names. */
function mask(v: unknown): unknown {
  if (typeof v === "string") return MAC.test(v) ? "<mac>" : v.replace(/^veth[0-9a-f]{8}$/, "<veth>");
  if (Array.isArray(v)) return v.map(mask);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mask(x)]));
  return v;
}

async function state(topo: Topology, node: string, pod: string, scratch: CniScratch): Promise<unknown> {
  const podAddrs = await ipJson<
    {
      ifname: string;
      mtu: number;
      operstate: string;
      addr_info: { local: string; prefixlen: number; family: string; scope: string }[];
    }[]
  >(pod, ["addr", "show"]);
  const podRoutes = await ipJson<Record<string, unknown>[]>(pod, ["route", "show"]);
  const br = topo.name("br").slice(0, 15);
  const brAddrs = await ipJson<{ addr_info: { local: string; prefixlen: number; scope: string }[] }[]>(node, [
    "addr",
    "show",
    "dev",
    br,
  ]).catch(() => []);
  const ports = await ipJson<{ ifname: string; master?: string }[]>(node, ["link", "show", "master", br]).catch(
    () => [],
  );
  const cache = snapshotFiles(scratch.cacheDir);
  const normalise = (text: string) => normaliseCache(text, scratch.root);
  return mask({
    pod: podAddrs.map((l) => ({
      ifname: l.ifname,
      mtu: l.mtu,
      up: l.operstate,
      addrs: l.addr_info.filter((a) => a.scope !== "link").map((a) => `${a.local}/${a.prefixlen}`),
    })),
    podRoutes,
    bridge: brAddrs.flatMap((l) =>
      l.addr_info.filter((a) => a.scope !== "link").map((a) => `${a.local}/${a.prefixlen}`),
    ),
    bridgePorts: ports.length,
    ipam: snapshotFiles(scratch.dataDir),
    cache: Object.fromEntries(Object.entries(cache).map(([k, v]) => [k, normalise(v)])),
  });
}

/**
 * Go libcni 1.1.2 (Debian) predates two things current libcni and ours do: the cache's `netns` key,
 * and dropping an empty `"dns": {}` from 1.x results. The cached config embeds the per-run scratch
 * path (dataDir), so it is compared decoded with that path masked.
 */
function normaliseCache(text: string, scratchRoot: string): unknown {
  const j = JSON.parse(text) as Record<string, unknown>;
  delete j["netns"];
  const result = j["result"] as Record<string, unknown> | undefined;
  if (result && JSON.stringify(result["dns"]) === "{}") delete result["dns"];
  if (typeof j["config"] === "string")
    j["config"] = JSON.parse(Buffer.from(j["config"], "base64").toString("utf8").split(scratchRoot).join("<scratch>"));
  return j;
}

function dropEmptyDns(r: Record<string, unknown>): Record<string, unknown> {
  if (JSON.stringify(r["dns"]) === "{}") delete r["dns"];
  return r;
}

async function runSequence(impl: CniRuntimeSpec, label: string): Promise<Outcome> {
  const topo = new Topology(`${prefix}${label}`);
  const scratch = new CniScratch(topo.prefix);
  try {
    const node = await topo.netns("node");
    const pod = await topo.netns("pod");
    scratch.writeConf("10-diff.conflist", {
      cniVersion: "1.0.0",
      name: NET,
      plugins: [
        {
          type: "bridge",
          bridge: topo.name("br").slice(0, 15),
          isGateway: true,
          hairpinMode: true,
          ipMasq: false,
          mtu: 1400,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: "10.244.7.0/24" }]],
            routes: [{ dst: "0.0.0.0/0" }],
            dataDir: scratch.dataDir,
          },
        },
      ],
    });
    const netnsPath = `/run/netns/${pod}`;
    const call = (cmd: string) => cnitool(impl, scratch, { node, cmd, net: NET, netnsPath });
    const add = await call("add");
    const afterAdd = await state(topo, node, pod, scratch);
    const check = await call("check");
    const del = await call("del");
    const afterDel = await state(topo, node, pod, scratch);
    const del2 = await call("del");
    return {
      add: {
        code: add.exitCode,
        result: add.stdout ? mask(dropEmptyDns(JSON.parse(add.stdout))) : null,
        stderr: add.stderr,
      },
      afterAdd,
      check: { code: check.exitCode, stderr: check.stderr },
      del: { code: del.exitCode, stderr: del.stderr },
      afterDel,
      del2: { code: del2.exitCode, stderr: del2.stderr },
    };
  } finally {
    scratch.dispose();
    await topo.cleanup();
  }
}

describe("our cnitool vs Go libcni, both driving the reference bridge + host-local", () => {
  let ours: Outcome;
  let ref: Outcome;
  beforeAll(async () => {
    await sweepStale();
    requireBuilt();
    requireBuilt(GO_CNITOOL);
    await run("modprobe", ["br_netfilter"], { allowFail: true });
    // Same names for both runs (prefix + "x"), one after the other, so container IDs and IPs line up.
    ref = await runSequence({ cnitool: GO_CNITOOL, pluginPath: [REFERENCE_PLUGIN_DIR] }, "x");
    ours = await runSequence({ cnitool: `${WEFT_PLUGIN_DIR}/cnitool`, pluginPath: [REFERENCE_PLUGIN_DIR] }, "x");
  }, 120_000);
  afterAll(async () => {
    await sweepStale();
  });

  it("the reference path itself succeeds (sanity of the oracle)", () => {
    expect(ref.add.stderr).toBe("");
    expect(ref.add.code).toBe(0);
    expect(ref.check.code).toBe(0);
    expect(ref.del.code).toBe(0);
    const after = ref.afterAdd as {
      pod: { ifname: string; addrs: string[] }[];
      bridge: string[];
      ipam: Record<string, string>;
    };
    expect(after.pod.find((l) => l.ifname === "eth0")?.addrs).toEqual(["10.244.7.2/24"]);
    expect(after.bridge).toEqual(["10.244.7.1/24"]);
    expect(after.ipam[`${NET}/10.244.7.2`]).toMatch(/^cnitool-[0-9a-f]{20}\r\neth0$/);
  });
  it("ADD prints the same result", () => {
    expect(ours.add.code, ours.add.stderr).toBe(0);
    expect(ours.add.result).toEqual(ref.add.result);
  });
  it("ADD leaves the same links, addresses, routes, IPAM files and result cache", () => {
    expect(ours.afterAdd).toEqual(ref.afterAdd);
  });
  it("CHECK succeeds on both", () => {
    expect(ours.check.code, ours.check.stderr).toBe(0);
  });
  it("DEL removes the same things and leaves the same state", () => {
    expect(ours.del.code, ours.del.stderr).toBe(0);
    expect(ours.afterDel).toEqual(ref.afterDel);
  });
  it("a second DEL succeeds on both", () => {
    expect(ref.del2.code).toBe(0);
    expect(ours.del2.code, ours.del2.stderr).toBe(0);
  });
});
