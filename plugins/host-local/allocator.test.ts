import { describe, expect, it } from "vitest";
import { type IPConfig, AllocationError, allocate, roundRobin } from "./allocator.ts";
import { type IP, formatCIDR, formatIP, parseCIDR, parseIP } from "./ip.ts";
import { MemoryStore } from "./testing/memory-store.ts";
import { type RangeInput, type RangeSet, canonicalizeRangeSet } from "./range.ts";
import { ownerRecord } from "./store.ts";

const ip = (s: string): IP => {
  const v = parseIP(s);
  if (v === undefined) throw new Error(`bad ip ${s}`);
  return v;
};
const rangeSet = (...inputs: (string | { subnet: string; start?: string; end?: string })[]): RangeSet =>
  canonicalizeRangeSet(
    inputs.map((i): RangeInput => {
      const o = typeof i === "string" ? { subnet: i } : i;
      return {
        subnet: parseCIDR(o.subnet),
        rangeStart: o.start ? ip(o.start) : undefined,
        rangeEnd: o.end ? ip(o.end) : undefined,
      };
    }),
  );
const order = (set: RangeSet, last?: string) =>
  [...roundRobin(set, last === undefined ? undefined : ip(last))].map((c) => formatIP(c.ip));

/** Allocate under the lock like the commands do. */
const get = (store: MemoryStore, set: RangeSet, id = "ID", requested?: string): Promise<IPConfig> =>
  store.withLock(() =>
    allocate(store, {
      containerID: id,
      ifname: "eth0",
      set,
      rangeID: "0",
      requested: requested ? ip(requested) : undefined,
    }),
  );
const shown = (c: IPConfig) => ({ address: formatCIDR(c.address), gateway: formatIP(c.gateway) });

function seeded(held: readonly string[], last?: string): MemoryStore {
  const s = new MemoryStore();
  for (const h of held) s.records.set(h, ownerRecord("id", "eth0"));
  if (last !== undefined) s.last.set("0", last);
  return s;
}

describe("round-robin iteration order", () => {
  const set = rangeSet("192.168.1.0/29");
  it("walks from rangeStart, skipping the gateway, to rangeEnd (never the broadcast)", () => {
    expect(order(set)).toEqual(["192.168.1.2", "192.168.1.3", "192.168.1.4", "192.168.1.5", "192.168.1.6"]);
  });
  it("starts after the last reserved IP and ends with it", () => {
    expect(order(set, "192.168.1.3")).toEqual([
      "192.168.1.4",
      "192.168.1.5",
      "192.168.1.6",
      "192.168.1.2",
      "192.168.1.3",
    ]);
  });
  it("wraps to the start when the last reserved IP is rangeEnd", () => {
    expect(order(set, "192.168.1.6")).toEqual([
      "192.168.1.2",
      "192.168.1.3",
      "192.168.1.4",
      "192.168.1.5",
      "192.168.1.6",
    ]);
  });
  it("ignores a last reserved IP outside the set", () => {
    expect(order(set, "10.9.9.9")[0]).toBe("192.168.1.2");
  });
  it("moves from one range to the next range's rangeStart and wraps around the set", () => {
    const multi = rangeSet("10.0.0.0/30", "10.0.1.0/30", "10.0.2.0/30");
    expect(order(multi)).toEqual(["10.0.0.2", "10.0.1.2", "10.0.2.2"]);
    expect(order(multi, "10.0.1.2")).toEqual(["10.0.2.2", "10.0.0.2", "10.0.1.2"]);
  });
  it("skips a gateway that is rangeStart and terminates when the gateway is the only address", () => {
    expect(order(rangeSet({ subnet: "10.0.0.0/24", start: "10.0.0.1", end: "10.0.0.1" }))).toEqual([]);
  });
});

describe("allocator round-robin table (checklist 53)", () => {
  it.each([
    [["10.0.0.0/29"], [], undefined, "10.0.0.2"],
    [["2001:db8:1::0/64"], [], undefined, "2001:db8:1::2"],
    [["10.0.0.0/30"], [], undefined, "10.0.0.2"],
    [["10.0.0.0/29"], ["10.0.0.2"], undefined, "10.0.0.3"],
    [["10.0.0.0/29"], [], "10.0.0.5", "10.0.0.6"],
    [["2001:db8:1::0/64"], [], "2001:db8:1::4", "2001:db8:1::5"],
    [["10.0.0.0/29"], ["10.0.0.4", "10.0.0.5"], "10.0.0.3", "10.0.0.6"],
    [["10.0.0.0/29"], ["10.0.0.6"], "10.0.0.5", "10.0.0.2"],
    [["10.0.0.0/29"], ["10.0.0.2"], "10.0.0.128", "10.0.0.3"],
    [["10.0.0.0/29"], ["10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"], "10.0.0.3", "10.0.0.3"],
    [["10.0.0.0/30", "10.0.1.0/30"], [], undefined, "10.0.0.2"],
    [["10.0.0.0/30", "10.0.1.0/30"], [], "10.0.0.2", "10.0.1.2"],
    [["10.0.0.0/30", "10.0.1.0/30", "10.0.2.0/30"], [], "10.0.2.2", "10.0.0.2"],
  ])("subnets %j, held %j, last %s -> %s", async (subnets, held, last, want) => {
    const store = seeded(held, last);
    const got = await get(store, rangeSet(...subnets));
    expect(formatIP(got.address.ip)).toBe(want);
    expect(store.last.get("0")).toBe(want);
  });
});

describe("allocator behaviour", () => {
  const set = rangeSet("192.168.1.0/29");

  it(
    "hands out .2-.6 of a /29 with prefix and gateway, then " +
      "fails: broadcast and gateway never used (checklist 54)",
    async () => {
      const store = new MemoryStore();
      for (let i = 2; i < 7; i++)
        expect(shown(await get(store, set, `ID${i}`))).toEqual({
          address: `192.168.1.${i}/29`,
          gateway: "192.168.1.1",
        });
      await expect(get(store, set, "ID8")).rejects.toThrow(
        "no IP addresses available in range set: 192.168.1.1-192.168.1.6",
      );
    },
  );

  it("does not reuse a freed IP before the pool wraps (checklist 54)", async () => {
    const store = new MemoryStore();
    expect(shown(await get(store, set)).address).toBe("192.168.1.2/29");
    await store.withLock(() => store.releaseByID("ID", "eth0"));
    expect(shown(await get(store, set)).address).toBe("192.168.1.3/29");
  });

  it("reserves a requested IP and refuses it while held (checklist 55)", async () => {
    const store = new MemoryStore();
    expect(shown(await get(store, set, "ID", "192.168.1.5")).address).toBe("192.168.1.5/29");
    const err = await get(store, set, "ID", "192.168.1.5").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AllocationError);
    expect(err).toMatchObject({
      kind: "unavailable",
      message: "requested IP address 192.168.1.5 is not available in range set 192.168.1.1-192.168.1.6",
    });
  });

  it("refuses a requested IP outside rangeStart-rangeEnd or equal to the gateway (checklist 55)", async () => {
    const narrow = rangeSet({ subnet: "192.168.1.0/29", start: "192.168.1.3", end: "192.168.1.4" });
    await expect(get(new MemoryStore(), narrow, "ID", "192.168.1.5")).rejects.toThrow(
      "192.168.1.5 not in range set 192.168.1.3-192.168.1.4",
    );
    await expect(get(new MemoryStore(), narrow, "ID", "192.168.1.2")).rejects.toThrow(
      "192.168.1.2 not in range set 192.168.1.3-192.168.1.4",
    );
    await expect(get(new MemoryStore(), set, "ID", "192.168.1.1")).rejects.toMatchObject({
      kind: "is-gateway",
      message: "requested ip 192.168.1.1 is subnet's gateway",
    });
  });

  it("refuses a second address for the same container and interface, also against a legacy record", async () => {
    const store = new MemoryStore();
    await get(store, set, "dup");
    await expect(get(store, set, "dup")).rejects.toMatchObject({
      kind: "duplicate",
      message: "192.168.1.2 has been allocated to dup, duplicate allocation is not allowed",
    });
    const legacy = new MemoryStore();
    legacy.records.set("192.168.1.4", "old");
    await expect(get(legacy, set, "old")).rejects.toMatchObject({ kind: "duplicate" });
  });

  it(
    "names the container's address that comes first in file-name order, " + "as the reference's directory walk does",
    async () => {
      const store = new MemoryStore();
      const wide = rangeSet("192.168.1.0/24");
      for (const held of ["192.168.1.6", "192.168.1.3", "192.168.1.10"])
        store.records.set(held, ownerRecord("dup", "eth0"));
      await expect(get(store, wide, "dup")).rejects.toMatchObject({
        kind: "duplicate",
        message: "192.168.1.10 has been allocated to dup, duplicate allocation is not allowed",
      });
      store.records.delete("192.168.1.10");
      await expect(get(store, wide, "dup")).rejects.toMatchObject({
        message: "192.168.1.3 has been allocated to dup, duplicate allocation is not allowed",
      });
    },
  );

  it("does not count an allocation of another range set as a duplicate", async () => {
    const store = new MemoryStore();
    store.records.set("10.9.0.5", ownerRecord("ID", "eth0"));
    expect(shown(await get(store, set)).address).toBe("192.168.1.2/29");
  });

  it.each([
    [["10.0.0.0/30"], ["10.0.0.2"]],
    [["10.0.0.0/29"], ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]],
    [
      ["10.0.0.0/30", "10.0.1.0/30"],
      ["10.0.0.2", "10.0.1.2"],
    ],
  ])("reports an exhausted pool %j with the reference prefix (checklist 56)", async (subnets, held) => {
    await expect(get(seeded(held), rangeSet(...subnets))).rejects.toMatchObject({
      kind: "exhausted",
      message: expect.stringMatching(/^no IP addresses available in range set/),
    });
  });

  it("only touches the store under the lock", async () => {
    const store = new MemoryStore();
    expect(() => allocate(store, { containerID: "x", ifname: "eth0", set, rangeID: "0" })).toThrow("without the lock");
  });
});
