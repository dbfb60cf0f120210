// The doctor's store in kube mode, through flanneld's factory, against the stub API server: the
// same flags and NODE_NAME as flanneld, the node's podCIDR compared with subnet.env.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FakeNode } from "../testing/doctor-node.ts";
import { StubApiServer } from "../testing/stub-apiserver.ts";
import { runDoctor } from "./doctor.ts";
import { parseDoctorArgs } from "./options.ts";
import { openStore } from "./store.ts";

const dir = mkdtempSync(join(tmpdir(), "weft-doctor-kube-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const P = "flannel.alpha.coreos.com/";

describe("weft doctor in kube mode", () => {
  it("reads net-conf.json and the nodes with flanneld's flags, and compares subnet.env with the podCIDR", async () => {
    const api = new StubApiServer("s3cret");
    await api.start();
    try {
      api.setNode("node-a", { podCIDRs: ["10.244.1.0/24"] });
      api.setNode("node-b", {
        podCIDRs: ["10.244.2.0/24"],
        annotations: {
          [`${P}kube-subnet-manager`]: "true",
          [`${P}backend-type`]: "vxlan",
          [`${P}backend-data`]: '{"VNI":1,"VtepMAC":"0e:00:00:00:00:02"}',
          [`${P}public-ip`]: "192.0.2.12",
        },
      });
      const kubeconfig = join(dir, "kubeconfig");
      writeFileSync(kubeconfig, api.kubeconfig());
      const netConf = join(dir, "net-conf.json");
      writeFileSync(netConf, '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
      const env = { NODE_NAME: "node-a" };
      const { flags } = parseDoctorArgs(
        ["--kube-subnet-mgr", `--kubeconfig-file=${kubeconfig}`, `--net-config-path=${netConf}`],
        env,
      );
      const opened = await openStore(flags, env);
      if (!("store" in opened)) throw new Error(opened.error);
      const n = new FakeNode();
      const ctx = { ...n.context(), store: opened.store };
      let rs = await runDoctor(ctx);
      const get = (id: string) => rs.find((r) => r.id === id);
      expect(get("store")?.summary).toContain("kube at the Kubernetes API: Network 10.244.0.0/16, backend vxlan");
      expect(get("subnet-env")).toMatchObject({ status: "ok", summary: "10.244.1.0/24 = node node-a's podCIDR" });
      expect(get("peer/10.244.2.0/24")?.status).toBe("ok");
      api.setNode("node-a", { podCIDRs: ["10.244.5.0/24"] });
      rs = await runDoctor(ctx);
      expect(get("subnet-env")?.summary).toBe(
        "10.244.1.0/24 in subnet.env, but node node-a's podCIDR is 10.244.5.0/24",
      );
      opened.store.close();
    } finally {
      await api.stop();
    }
  });

  it("without NODE_NAME the store cannot be opened, and the doctor says why", async () => {
    const { flags } = parseDoctorArgs(["--kube-subnet-mgr", "--kube-api-url=http://127.0.0.1:1"], {});
    const opened = await openStore(flags, {});
    expect("error" in opened && opened.error).toContain("set NODE_NAME");
  });
});
