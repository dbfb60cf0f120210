// flanneld as a process in kube mode (--kube-subnet-mgr, --kubeconfig-file) against the stub API
// server (no real API server can be installed here; the stub serves the real JSON shapes), with
// the control-plane-only data plane (WEFT_DATAPLANE=none).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { StubApiServer } from "./testing/stub-apiserver.ts";

const ROOT = resolve(import.meta.dirname, "..");
const BUN = join(ROOT, "node_modules", ".bin", "bun");
const dir = mkdtempSync(join(tmpdir(), "weft-flanneld-kube-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const P = "flannel.alpha.coreos.com/";

async function until(pred: () => boolean, what: string | (() => string), ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("flanneld process in kube mode", () => {
  it("publishes annotations, writes subnet.env from the " +
    "podCIDR, marks the node up, logs peers, exits 0 on SIGTERM", async () => {
    const api = new StubApiServer("s3cret");
    await api.start();
    api.setNode("node-a", { podCIDRs: ["10.244.7.0/24"], annotations: { [`${P}node-public-ip`]: "192.0.2.70" } });
    api.setNode("node-b", {
      podCIDRs: ["10.244.8.0/24"],
      annotations: {
        [`${P}kube-subnet-manager`]: "true",
        [`${P}backend-type`]: "host-gw",
        [`${P}backend-data`]: "null",
        [`${P}public-ip`]: "192.0.2.80",
      },
    });
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, api.kubeconfig());
    const netConf = join(dir, "net-conf.json");
    writeFileSync(netConf, '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}');
    const subnetFile = join(dir, "subnet.env");
    const p = spawn(
      BUN,
      [
        join(ROOT, "bin", "weft.ts"),
        "flanneld",
        "--kube-subnet-mgr",
        `--kubeconfig-file=${kubeconfig}`,
        `--net-config-path=${netConf}`,
        `--subnet-file=${subnetFile}`,
        "--ip-masq",
      ],
      {
        env: { ...process.env, WEFT_DATAPLANE: "none", NODE_NAME: "node-a" },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let err = "";
    p.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    const exit = new Promise<number>((r) => p.on("exit", (c) => r(c ?? -1)));
    try {
      await until(
        () => existsSync(subnetFile),
        () => `subnet.env (log: ${err})`,
      );
      expect(readFileSync(subnetFile, "utf8")).toMatch(
        /^FLANNEL_NETWORK=10\.244\.0\.0\/16\nFLANNEL_SUBNET=10\.244\.7\.1\/24\nFLANNEL_MTU=\d+\nFLANNEL_IPMASQ=true\n$/,
      );
      const ann = api.nodes.get("node-a")?.metadata.annotations ?? {};
      expect(ann[`${P}public-ip`]).toBe("192.0.2.70"); // from node-public-ip
      expect(ann[`${P}backend-type`]).toBe("host-gw");
      expect(ann[`${P}kube-subnet-manager`]).toBe("true");
      await until(() => err.includes("peer added") && err.includes("192.0.2.80"), "peer event");
      await until(
        () =>
          (api.nodes.get("node-a")?.status.conditions ?? []).some(
            (c) => c["type"] === "NetworkUnavailable" && c["status"] === "False",
          ),
        "node condition",
      );
      p.kill("SIGTERM");
      expect(await exit).toBe(0);
      expect(err).toContain("Exiting cleanly");
    } finally {
      p.kill("SIGKILL");
      await api.stop();
    }
  }, 30_000);
});
