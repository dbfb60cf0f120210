/**
 * Root-test driver (run with `bun`): executes a JSON program of NetlinkClient calls and prints
 * one JSON line per step: {ok, value} or {ok:false, error:{name, code, errno, message}}.
 *
 * Program (argv[2]): {"steps": [
 *   {"op":"netns","name":"pod","path":"/run/netns/x"},          // open; use {"$fd":"pod"} in args
 *   {"op":"client","name":"pod","netns":"/run/netns/x"},         // a client inside that netns
 *   {"op":"call","client":"pod","method":"addAddr","args":["eth0","10.0.0.1/24"]}
 * ]}   Calls go to client "host" (the current netns) unless named.
 */
import { openNetlink } from "../netlink/open.ts";
import type { NetlinkClient } from "../netlink/client.ts";
import { openNetns, type Netns } from "../netns.ts";

type Step =
  | { op: "netns"; name: string; path: string }
  | { op: "client"; name: string; netns?: string }
  | { op: "call"; client?: string; method: string; args?: unknown[] };

const program = JSON.parse(process.argv[2] ?? "{}") as { steps?: Step[] };
const namespaces = new Map<string, Netns>();
const clients = new Map<string, NetlinkClient>();

function substitute(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(substitute);
  if (typeof v === "object" && v !== null) {
    const rec = v as Record<string, unknown>;
    if (typeof rec["$fd"] === "string") {
      const ns = namespaces.get(rec["$fd"]);
      if (!ns) throw new Error(`no netns named ${rec["$fd"]}`);
      return ns.fd;
    }
    return Object.fromEntries(Object.entries(rec).map(([k, x]) => [k, substitute(x)]));
  }
  return v;
}

function client(name = "host"): NetlinkClient {
  let c = clients.get(name);
  if (!c && name === "host") clients.set(name, (c = openNetlink()));
  if (!c) throw new Error(`no client named ${name}`);
  return c;
}

function run(step: Step): unknown {
  switch (step.op) {
    case "netns":
      namespaces.set(step.name, openNetns(step.path));
      return null;
    case "client":
      clients.set(step.name, openNetlink(step.netns ? { netns: step.netns } : {}));
      return null;
    case "call": {
      const c = client(step.client) as unknown as Record<string, (...a: unknown[]) => unknown>;
      const fn = c[step.method];
      if (typeof fn !== "function") throw new Error(`no method ${step.method}`);
      return fn.apply(c, substitute(step.args ?? []) as unknown[]);
    }
  }
}

for (const step of program.steps ?? []) {
  try {
    const value = run(step);
    process.stdout.write(`${JSON.stringify({ ok: true, value: value ?? null })}\n`);
  } catch (e) {
    const err = e as { name?: string; code?: string; errno?: number; message?: string };
    const error = { name: err.name, code: err.code, errno: err.errno, message: err.message };
    process.stdout.write(`${JSON.stringify({ ok: false, error })}\n`);
  }
}
for (const c of clients.values()) c.close();
for (const n of namespaces.values()) n.close();
