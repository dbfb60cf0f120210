import { describe, expect, it } from "vitest";
import { formatCidr, type IpNet } from "../../net/prefix.ts";
import type { LeaseEvent } from "../lease.ts";
import { ConfigNotFoundError, LeaseLostError, type SubnetManager } from "../subnet/manager.ts";
import { MemoryLeaseStore, MemorySubnetManager } from "./memory-manager.ts";

const _typecheck: SubnetManager = new MemorySubnetManager(new MemoryLeaseStore(), {});
void _typecheck;
const sig = () => new AbortController().signal;
const tick = () => new Promise((r) => setTimeout(r, 5));

describe("in-memory subnet manager", () => {
  it("asks for a config before there is one", async () => {
    const m = new MemoryLeaseStore().manager();
    await expect(m.getNetworkConfig(sig())).rejects.toBeInstanceOf(ConfigNotFoundError);
  });

  it("gives nodes distinct subnets and a restarted node its old one", async () => {
    const store = new MemoryLeaseStore('{"Network":"10.244.0.0/16"}');
    const a = store.manager({ rng: () => 0 });
    const b = store.manager({ rng: () => 0 });
    await a.getNetworkConfig(sig());
    await b.getNetworkConfig(sig());
    const la = await a.acquireLease({ PublicIP: "192.0.2.1" }, sig());
    const lb = await b.acquireLease({ PublicIP: "192.0.2.2" }, sig());
    expect([la, lb].map((l) => formatCidr(l.subnet as IpNet))).toEqual(["10.244.1.0/24", "10.244.2.0/24"]);
    const again = store.manager();
    await again.getNetworkConfig(sig());
    expect(formatCidr((await again.acquireLease({ PublicIP: "192.0.2.2" }, sig())).subnet as IpNet)).toBe(
      "10.244.2.0/24",
    );
    expect(a.calls).toEqual(["getNetworkConfig", "acquireLease 192.0.2.1"]);
  });

  it("streams peers to watchers and reports the loss of the own lease", async () => {
    const store = new MemoryLeaseStore('{"Network":"10.244.0.0/16"}');
    const a = store.manager({ rng: () => 0 });
    await a.getNetworkConfig(sig());
    const la = await a.acquireLease({ PublicIP: "192.0.2.1" }, sig());
    const seen: LeaseEvent[][] = [];
    const ac = new AbortController();
    const watching = a.watchLeases(la, (b) => void seen.push([...b]), ac.signal);
    const completing = a.completeLease(la, sig()).catch((e: unknown) => e);
    const b = store.manager({ rng: () => 0 });
    await b.getNetworkConfig(sig());
    const lb = await b.acquireLease({ PublicIP: "192.0.2.2" }, sig());
    await tick();
    store.remove(lb.subnet as IpNet);
    await tick();
    expect(seen.map((batch) => batch.map((e) => `${e.type} ${e.lease.attrs.PublicIP}`))).toEqual([
      [],
      ["added 192.0.2.2"],
      ["removed 192.0.2.2"],
    ]);
    store.remove(la.subnet as IpNet);
    expect(await completing).toBeInstanceOf(LeaseLostError);
    ac.abort();
    await watching;
  });
});
