import { describe, expect, it } from "vitest";
import { flanneldArgs, flanneldEnv } from "./flanneld-process.ts";

describe("the running flanneld's flags", () => {
  it("takes the arguments after the flanneld role, however the binary was started", () => {
    expect(flanneldArgs("/opt/bin/weft\0flanneld\0--ip-masq\0--kube-subnet-mgr\0")).toEqual([
      "--ip-masq",
      "--kube-subnet-mgr",
    ]);
    expect(flanneldArgs("/opt/bin/flanneld\0--etcd-endpoints=http://x:2379\0")).toEqual([
      "--etcd-endpoints=http://x:2379",
    ]);
    expect(flanneldArgs("/usr/bin/bun\0/src/bin/weft.ts\0flanneld\0-v=1\0")).toEqual(["-v=1"]);
    expect(flanneldArgs("/usr/sbin/flanneld")).toEqual([]);
  });

  it("is not fooled by other programs mentioning flanneld", () => {
    expect(flanneldArgs("/opt/bin/weft\0doctor\0--json\0")).toBeUndefined();
    expect(flanneldArgs("grep\0-r\0flanneld\0")).toBeUndefined();
    expect(flanneldArgs("vim\0/etc/flanneld/x\0")).toBeUndefined();
    expect(flanneldArgs("less\0flanneld\0")).toBeUndefined();
  });

  it("keeps only the environment flanneld reads", () => {
    expect(
      flanneldEnv("PATH=/bin\0NODE_NAME=n1\0FLANNELD_IFACE=eth1\0KUBERNETES_SERVICE_HOST=10.96.0.1\0SECRET=x\0"),
    ).toEqual({ NODE_NAME: "n1", FLANNELD_IFACE: "eth1", KUBERNETES_SERVICE_HOST: "10.96.0.1" });
  });
});
