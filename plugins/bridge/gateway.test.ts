import { describe, expect, it } from "vitest";
import { calcGateways, gatewayFor } from "./gateway.ts";

describe("bridge gateway maths", () => {
  it("computes the gateway as network + 1", () => {
    expect(gatewayFor("10.1.2.5/24")).toBe("10.1.2.1");
    expect(gatewayFor("2001:db8::5/64")).toBe("2001:db8::1");
  });

  it("fills missing gateways, marks every IP as the pod interface and lists bridge addresses (checklist 60)", () => {
    const p = calcGateways([{ address: "10.1.2.2/24" }, { address: "2001:db8::2/64" }], [], {
      isGateway: true,
      isDefaultGateway: true,
    });
    expect(p.ips).toEqual([
      { address: "10.1.2.2/24", gateway: "10.1.2.1", interface: 2 },
      { address: "2001:db8::2/64", gateway: "2001:db8::1", interface: 2 },
    ]);
    expect(p.routes).toEqual([
      { dst: "0.0.0.0/0", gw: "10.1.2.1" },
      { dst: "::/0", gw: "2001:db8::1" },
    ]);
    expect(p.bridgeAddrs).toEqual({ 4: ["10.1.2.1/24"], 6: ["2001:db8::1/64"] });
  });

  it("keeps an IPAM gateway and does not add a default route when IPAM gave one with a gateway", () => {
    const p = calcGateways(
      [{ address: "10.1.2.2/24", gateway: "10.1.2.254" }],
      [{ dst: "0.0.0.0/0", gw: "10.1.2.254" }],
      {
        isGateway: true,
        isDefaultGateway: true,
      },
    );
    expect(p.routes).toEqual([{ dst: "0.0.0.0/0", gw: "10.1.2.254" }]);
    expect(p.bridgeAddrs[4]).toEqual(["10.1.2.254/24"]);
  });

  it("adds one default route per family even with several addresses", () => {
    const p = calcGateways([{ address: "10.1.2.2/24" }, { address: "10.1.3.2/24" }], [], {
      isGateway: true,
      isDefaultGateway: true,
    });
    expect(p.routes).toEqual([{ dst: "0.0.0.0/0", gw: "10.1.2.1" }]);
    expect(p.bridgeAddrs[4]).toEqual(["10.1.2.1/24", "10.1.3.1/24"]);
  });

  it("leaves gateways alone and adds nothing when the bridge is not the gateway", () => {
    const p = calcGateways([{ address: "10.1.2.2/24" }], [{ dst: "10.0.0.0/8" }], {
      isGateway: false,
      isDefaultGateway: false,
    });
    expect(p.ips).toEqual([{ address: "10.1.2.2/24", interface: 2 }]);
    expect(p.routes).toEqual([{ dst: "10.0.0.0/8" }]);
    expect(p.bridgeAddrs).toEqual({ 4: [], 6: [] });
  });
});
