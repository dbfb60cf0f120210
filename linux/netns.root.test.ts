// withNetns in a real process: enter, always restore (also on throw), nesting, sysctl inside,
// sockets opened inside, and typed errors for missing / non-netns paths.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Namespaces, driver, runPrefix, sh } from "./testing/harness.ts";

type Obs = Record<string, unknown>;
const nss = new Namespaces(runPrefix());
let obs: Obs;
let idA: string;
let idB: string;
let idRoot: string;
let a: { name: string; path: string };

beforeAll(async () => {
  a = await nss.add("a");
  const b = await nss.add("b");
  await sh("ip", ["netns", "exec", a.name, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  await sh("ip", ["-n", a.name, "link", "add", "mark0", "type", "veth", "peer", "name", "mark1"]);
  idA = (await sh("ip", ["netns", "exec", a.name, "readlink", "/proc/self/ns/net"])).trim();
  idB = (await sh("ip", ["netns", "exec", b.name, "readlink", "/proc/self/ns/net"])).trim();
  idRoot = (await sh("readlink", ["/proc/self/ns/net"])).trim();
  const [r] = await driver("netns.ts", [a.path, b.path]);
  obs = r as unknown as Obs;
});
afterAll(async () => {
  await nss.cleanup();
});

describe("withNetns", () => {
  it("runs the callback in the target netns and returns to the original one", () => {
    expect(obs["before"]).toBe(idRoot);
    expect(obs["inside"]).toBe(idA);
    expect(obs["afterOk"]).toBe(idRoot);
    expect(obs["byHandle"]).toBe(idA);
    expect(obs["final"]).toBe(idRoot);
  });

  it("restores the original netns when the callback throws, and rethrows the callback's error", () => {
    expect(obs["thrown"]).toEqual({ name: "Error", message: "boom" });
    expect(obs["afterThrow"]).toBe(idRoot);
  });

  it("rejects a callback that returns a Promise and still restores", () => {
    expect(obs["promise"]).toMatchObject({ name: "TypeError" });
    expect(String((obs["promise"] as Obs)["message"])).toContain("must be synchronous");
    expect(obs["afterPromise"]).toBe(idRoot);
  });

  it("nests: the inner call returns to the outer netns, not to the original", () => {
    expect(obs["nested"]).toEqual({ outer: idA, inner: idB, back: idA });
    expect(obs["afterNested"]).toBe(idRoot);
  });

  it("reads and writes /proc/sys of the entered netns synchronously", async () => {
    expect(obs["sysctlInside"]).toBe("1");
    const rootFwd = (await sh("sysctl", ["-n", "net.ipv4.ip_forward"])).trim();
    expect(obs["sysctlOutside"]).toBe(rootFwd);
    const arp = (await sh("ip", ["netns", "exec", a.name, "sysctl", "-n", "net.ipv4.conf.all.arp_notify"])).trim();
    expect(arp).toBe("1");
  });

  it("binds a netlink socket opened inside to that netns for its whole life", () => {
    expect(obs["linksSeen"]).toEqual(expect.arrayContaining(["lo", "mark0", "mark1"]));
  });

  it("types a missing path as NetnsNotFoundError and a regular file as NotNetnsError", () => {
    expect(obs["missing"]).toMatchObject({ name: "NetnsNotFoundError" });
    expect(String((obs["missing"] as Obs)["message"])).toContain("does not exist");
    expect(obs["notNs"]).toMatchObject({ name: "NotNetnsError" });
    expect(obs["isNetns"]).toEqual([true, false, false]);
  });
});

describe("event monitor", () => {
  it("hears link, address and route changes made by iproute2 in the netns it was opened in", async () => {
    const [r] = await driver("monitor.ts", [a.name]);
    const o = r as unknown as { before: number; events: string[]; after: number };
    expect(o.before).toBe(0);
    expect(o.events).toEqual(
      expect.arrayContaining([
        "new link ev0",
        "new link ev1",
        "new addr 192.0.2.1/24",
        "new route 192.0.2.0/24 table 254",
        "del link ev0",
        "del link ev1",
      ]),
    );
    expect(o.events.indexOf("del link ev0")).toBeGreaterThan(o.events.indexOf("new addr 192.0.2.1/24"));
    expect(o.after).toBe(0);
  });
});
