// The shipped manifest must carry configs our own code accepts: the conflist (libcni + the flannel
// plugin's netconf) and net-conf.json (flanneld's config parser and checks).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { confListFromBytes } from "../../libcni/conf.ts";
import { fromJsonTree } from "../../libcni/invoke/gojson.ts";
import { parseFlannelConf } from "../../plugins/flannel/config.ts";
import { checkNetworkConfig, parseNetworkConfig } from "../config.ts";

const yaml = readFileSync(join(import.meta.dirname, "kube-weft.yml"), "utf8");

/** The block scalar under `  <key>: |` in the ConfigMap, de-indented. */
function block(key: string): string {
  const lines = yaml.split("\n");
  const start = lines.findIndex((l) => l.trimEnd() === `  ${key}: |`);
  if (start < 0) throw new Error(`${key} not found in kube-weft.yml`);
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l.trim() !== "" && !l.startsWith("    ")) break;
    out.push(l.slice(4));
  }
  return out.join("\n");
}

describe("daemon/deploy/kube-weft.yml", () => {
  it("ships a cni-conf.json that libcni loads as the flannel + portmap list kube-flannel.yml ships", () => {
    const list = confListFromBytes(block("cni-conf.json"));
    expect(list.name).toBe("cbr0");
    expect(list.cniVersion).toBe("0.3.1");
    expect(list.plugins.map((p) => p.type)).toEqual(["flannel", "portmap"]);
    const raw = list.plugins[0]?.raw;
    if (!raw) throw new Error("no flannel plugin in the list");
    const conf = parseFlannelConf({ ...(fromJsonTree(raw) as object), name: "cbr0", cniVersion: "0.3.1" });
    expect(conf.subnetFile).toBe("/run/flannel/subnet.env");
    expect(conf.delegate).toEqual({ hairpinMode: true, isDefaultGateway: true });
  });

  it("ships a net-conf.json that flanneld accepts: 10.244.0.0/16 in /24s over vxlan", () => {
    const cfg = checkNetworkConfig(parseNetworkConfig(block("net-conf.json"), "net-conf.json"), "net-conf.json");
    expect(cfg.backend.type).toBe("vxlan");
    expect(cfg.subnetLen).toBe(24);
    expect(cfg.enableNFTables).toBe(false);
  });

  it("runs flanneld with the kube subnet manager, masquerade and health probes on 8081", () => {
    expect(yaml).toContain('args: ["--ip-masq", "--kube-subnet-mgr", "--healthz-port=8081"]');
    expect(yaml).toMatch(/path: \/healthz\n\s+port: 8081/);
    expect(yaml).toMatch(/path: \/readyz\n\s+port: 8081/);
  });

  it("gives flanneld what its CNI server needs: privileged, the CNI state and plugin dirs", () => {
    const container = yaml.slice(yaml.indexOf("- name: kube-flannel\n"));
    expect(container).toMatch(/securityContext:\n\s+privileged: true/);
    expect(container).toMatch(/- name: cni-state\n\s+mountPath: \/var\/lib\/cni/);
    expect(container).toMatch(/- name: cni-plugin\n\s+mountPath: \/opt\/cni\/bin\n\s+readOnly: true/);
    expect(container).toMatch(/- name: run\n\s+mountPath: \/run\/flannel/);
  });
});
