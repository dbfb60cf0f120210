import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connectionFromKubeconfig, inClusterConnection, KubeConfigError, resolveConnection } from "./connection.ts";

const dir = mkdtempSync(join(tmpdir(), "weft-kubeconfig-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster:
    server: https://192.0.2.1:6443
    certificate-authority: pki/ca.crt
- name: c2
  cluster:
    server: https://192.0.2.2:6443
contexts:
- name: ctx1
  context: {cluster: c1, user: u1}
- name: ctx2
  context:
    cluster: c2
    user: u2
current-context: ctx2
users:
- name: u1
  user:
    token: abc
- name: u2
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
`;

describe("Kubernetes connection", () => {
  it("follows current-context to the cluster and user, decoding -data fields", () => {
    const c = connectionFromKubeconfig(KUBECONFIG, join(dir, "kubeconfig"));
    expect(c.server).toBe("https://192.0.2.2:6443");
    expect(c.cert?.toString()).toBe("CERT");
    expect(c.key?.toString()).toBe("KEY");
    expect(c.source).toContain("context ctx2");
  });

  it("reads file references relative to the kubeconfig and uses tokens", () => {
    mkdirSync(join(dir, "pki"), { recursive: true });
    writeFileSync(join(dir, "pki", "ca.crt"), "CA");
    const c = connectionFromKubeconfig(
      KUBECONFIG.replace("current-context: ctx2", "current-context: ctx1"),
      join(dir, "kubeconfig"),
    );
    expect(c.server).toBe("https://192.0.2.1:6443");
    expect(c.ca?.toString()).toBe("CA");
    expect(c.token).toBe("abc");
  });

  it("names what is wrong in a broken kubeconfig", () => {
    expect(() =>
      connectionFromKubeconfig(KUBECONFIG.replace("current-context: ctx2", "current-context: nope"), "/k"),
    ).toThrow(/\/k: no context named "nope"/);
    expect(() =>
      connectionFromKubeconfig(
        "users:\n- name: u\n  user:\n    exec:\n      command: aws\ncontexts:\n- name: x\n" +
          "  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: https://h}\n",
        "/k",
      ),
    ).toThrow(/exec\/auth-provider credentials/);
  });

  it("builds the in-cluster connection from the service account, and says what to do outside a pod", () => {
    const sa = join(dir, "sa");
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, "token"), "tok\n");
    writeFileSync(join(sa, "ca.crt"), "CA");
    const c = inClusterConnection({ KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }, sa);
    expect(c.server).toBe("https://10.96.0.1:443");
    expect(c.tokenFile).toBe(join(sa, "token"));
    expect(c.ca?.toString()).toBe("CA");
    expect(inClusterConnection({ KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" }, sa).server).toBe(
      "https://[fd00::1]:443",
    );
    expect(() => inClusterConnection({}, sa)).toThrow(KubeConfigError);
    expect(() => inClusterConnection({}, sa)).toThrow(/--kubeconfig-file or --kube-api-url/);
  });

  it("in a pod without a service account token, names serviceAccountName as the fix", () => {
    const sa = join(dir, "sa-without-token");
    mkdirSync(sa, { recursive: true });
    const inPod = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };
    expect(() => inClusterConnection(inPod, sa)).toThrow(KubeConfigError);
    expect(() => inClusterConnection(inPod, sa)).toThrow(
      `no service account token at ${sa}/token: flanneld talks to the API server as its pod's service account; ` +
        "give the DaemonSet's pod template `serviceAccountName: flannel`",
    );
  });

  it("lets --kube-api-url override the kubeconfig server, or stand alone without credentials", () => {
    const file = join(dir, "kubeconfig");
    writeFileSync(file, KUBECONFIG);
    expect(resolveConnection({ kubeApiUrl: "https://override:6443", kubeconfigFile: file, env: {} }).server).toBe(
      "https://override:6443",
    );
    expect(resolveConnection({ kubeApiUrl: "http://127.0.0.1:8080", kubeconfigFile: "", env: {} })).toEqual({
      server: "http://127.0.0.1:8080",
      source: "--kube-api-url",
    });
    expect(() => resolveConnection({ kubeApiUrl: "", kubeconfigFile: join(dir, "missing"), env: {} })).toThrow(
      /--kubeconfig-file=.*missing/,
    );
  });
});
