// Which store the cluster fixture (and so the demo) runs flanneld against.
import { describe, expect, it } from "vitest";
import { defaultStore, WeftCluster } from "./cluster.ts";

describe("the cluster's default store", () => {
  it("is Debian's etcd when its binary exists, else the embedded etcd", () => {
    expect(defaultStore({}, "/bin/sh")).toBe("etcd");
    expect(defaultStore({}, "/nonexistent/etcd")).toBe("embedded");
  });

  it("follows WEFT_DEMO_STORE over what is installed and names the choices when it is wrong", () => {
    expect(defaultStore({ WEFT_DEMO_STORE: "embedded" }, "/bin/sh")).toBe("embedded");
    expect(defaultStore({ WEFT_DEMO_STORE: "etcd" }, "/nonexistent/etcd")).toBe("etcd");
    expect(() => defaultStore({ WEFT_DEMO_STORE: "consul" })).toThrow(
      /WEFT_DEMO_STORE=consul: use etcd .* or embedded/,
    );
  });

  it("is taken from the store option when given", () => {
    expect(new WeftCluster({ nodes: 1, backend: "vxlan", store: "embedded" }).storeKind).toBe("embedded");
    expect(new WeftCluster({ nodes: 1, backend: "vxlan", store: "etcd" }).storeKind).toBe("etcd");
  });
});
