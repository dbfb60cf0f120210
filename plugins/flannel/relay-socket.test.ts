import { describe, expect, it } from "vitest";
import { socketPath } from "./relay-socket.ts";

describe("the socket the flannel exec relays to", () => {
  it("is cni.sock beside the config's subnetFile, read as flannel reads its config, or /run/flannel/cni.sock", () => {
    expect(socketPath({}, '{"name":"cbr0","type":"flannel"}')).toBe("/run/flannel/cni.sock");
    expect(socketPath({}, '{"subnetFile":"/var/run/f/subnet.env"}')).toBe("/var/run/f/cni.sock");
    expect(socketPath({}, '{"subnetfile":"/a/x.env","SubnetFile":"/b/y.env"}')).toBe("/b/cni.sock");
    expect(socketPath({}, '{"subnetFile":""}')).toBe("/run/flannel/cni.sock");
    expect(socketPath({}, '{"subnetFile":null}')).toBe("/run/flannel/cni.sock");
  });
  it("is WEFT_CNI_SOCKET when set, and none when that is empty", () => {
    expect(socketPath({ WEFT_CNI_SOCKET: "/tmp/s.sock" }, '{"subnetFile":"/x/subnet.env"}')).toBe("/tmp/s.sock");
    expect(socketPath({ WEFT_CNI_SOCKET: "" }, "{}")).toBeUndefined();
  });
  it("is none for a config the plugin itself would refuse, so the exec reports the error", () => {
    expect(socketPath({}, "not json")).toBeUndefined();
    expect(socketPath({}, "[]")).toBeUndefined();
    expect(socketPath({}, '{"subnetFile":7}')).toBeUndefined();
  });
});
