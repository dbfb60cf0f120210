// The shipped manifest must carry configs our own code accepts: the conflist (libcni + the flannel
// plugin's netconf) and net-conf.json (flanneld's config parser and checks).
import { execFileSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { confListFromBytes } from "../../libcni/conf.ts";
import { fromJsonTree } from "../../libcni/invoke/gojson.ts";
import { parseFlannelConf } from "../../plugins/flannel/config.ts";
import { SPEC_VERSIONS } from "../../libcni/version.ts";
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

/** The YAML of one (init) container, from its `- name:` line to the next container or the volumes. */
function container(name: string): string {
  const start = yaml.indexOf(`- name: ${name}\n`);
  if (start < 0) throw new Error(`container ${name} not found in kube-weft.yml`);
  const rest = yaml.slice(start + 1);
  const end = rest.search(/\n {8}- name: |\n {6}(containers|volumes):/);
  return rest.slice(0, end < 0 ? undefined : end);
}

/** The shell command of the install-cni-plugin init container (`sh -c` + a folded `>-` scalar). */
function installCommand(): string {
  const c = container("install-cni-plugin");
  expect(c).toContain('command: ["sh", "-c"]');
  const lines = c.split("\n");
  const at = lines.findIndex((l) => l.trim() === "- >-");
  const body: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (!l.startsWith("              ")) break;
    body.push(l.trim());
  }
  return body.join(" ");
}

describe("daemon/deploy/kube-weft.yml", () => {
  it("ships a cniVersion 1.1.0 flannel + portmap list (STATUS and GC on) that libcni and our flannel accept", () => {
    const list = confListFromBytes(block("cni-conf.json"));
    expect(list.name).toBe("cbr0");
    expect(list.cniVersion).toBe("1.1.0");
    expect(SPEC_VERSIONS).toContain(list.cniVersion);
    expect(list.plugins.map((p) => p.type)).toEqual(["flannel", "portmap"]);
    const raw = list.plugins[0]?.raw;
    if (!raw) throw new Error("no flannel plugin in the list");
    const conf = parseFlannelConf({ ...(fromJsonTree(raw) as object), name: "cbr0", cniVersion: "1.1.0" });
    expect(conf.subnetFile).toBe("/run/flannel/subnet.env");
    expect(conf.delegate).toEqual({ hairpinMode: true, isDefaultGateway: true });
  });

  it("ships a net-conf.json that flanneld accepts: 10.244.0.0/16 in /24s over vxlan", () => {
    const cfg = checkNetworkConfig(parseNetworkConfig(block("net-conf.json"), "net-conf.json"), "net-conf.json");
    expect(cfg.backend.type).toBe("vxlan");
    expect(cfg.subnetLen).toBe(24);
    expect(cfg.enableNFTables).toBe(false);
  });

  it("runs flanneld with the kube subnet manager, masquerade and health probes on the named port healthz", () => {
    const c = container("kube-flannel");
    expect(c).toContain('args: ["--ip-masq", "--kube-subnet-mgr", "--healthz-port=8081"]');
    expect(c).toMatch(/ports:\n\s+- name: healthz\n\s+containerPort: 8081\n\s+protocol: TCP/);
    expect(c).toMatch(/path: \/healthz\n\s+port: healthz/);
    expect(c).toMatch(/path: \/readyz\n\s+port: healthz/);
  });

  it("gives flanneld what its CNI server needs: privileged (setns, links, /proc/sys), the CNI dirs", () => {
    const c = container("kube-flannel");
    expect(c).toMatch(/securityContext:\n\s+privileged: true/);
    expect(c).toMatch(/- name: cni-state\n\s+mountPath: \/var\/lib\/cni/);
    expect(c).toMatch(/- name: cni-plugin\n\s+mountPath: \/opt\/cni\/bin\n\s+readOnly: true/);
    expect(c).toMatch(/- name: run\n\s+mountPath: \/run\/flannel/);
    expect(c).toMatch(/- name: cni\n\s+mountPath: \/etc\/cni\/net.d\n\s+readOnly: true/);
  });

  it("requests the memory BENCHMARKS.md measured, sets no limit, and drops flannel's EVENT_QUEUE_DEPTH", () => {
    const c = container("kube-flannel");
    expect(c).toMatch(/requests:\n\s+cpu: "100m"\n\s+memory: "80Mi"/);
    expect(c).not.toMatch(/limits:/);
    expect(yaml).not.toContain("name: EVENT_QUEUE_DEPTH");
  });

  it("names one placeholder image everywhere, so the README's one sed command points all three at a registry", () => {
    const images = yaml.match(/^\s+image: .*$/gm)?.map((l) => l.trim());
    expect(images).toEqual(["image: weft:0.1.0", "image: weft:0.1.0", "image: weft:0.1.0"]);
  });

  it("installs the plugin atomically: a reader of the old binary keeps it whole, the new one appears at once", () => {
    const dir = mkdtempSync(join(tmpdir(), "weft-install-cni-"));
    try {
      const bin = join(dir, "opt-cni-bin");
      mkdirSync(bin);
      mkdirSync(join(dir, "opt-bin"));
      writeFileSync(join(dir, "opt-bin", "weft"), "new binary");
      writeFileSync(join(bin, "flannel"), "old binary", { mode: 0o755 });
      // an exec of the old plugin in flight: its open file must stay the old content
      const running = openSync(join(bin, "flannel"), "r");
      const oldInode = statSync(join(bin, "flannel")).ino;
      const cmd = installCommand().replaceAll("/opt/cni/bin", bin).replaceAll("/opt/bin", join(dir, "opt-bin"));
      expect(cmd).toContain(`mv -f ${bin}/.flannel.weft-tmp ${bin}/flannel`);
      execFileSync("sh", ["-c", cmd]);
      const buf = Buffer.alloc(32);
      expect(buf.subarray(0, readSync(running, buf, 0, 32, 0)).toString()).toBe("old binary");
      closeSync(running);
      const now = statSync(join(bin, "flannel"));
      expect(now.ino).not.toBe(oldInode);
      expect(now.mode & 0o777).toBe(0o755);
      expect(readFileSync(join(bin, "flannel"), "utf8")).toBe("new binary");
      expect(execFileSync("ls", ["-A", bin]).toString().trim()).toBe("flannel");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
