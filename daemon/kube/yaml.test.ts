import { describe, expect, it } from "vitest";
import { parseYaml, YamlError } from "./yaml.ts";

describe("kubeconfig YAML subset", () => {
  it("parses a kubeadm admin.conf shape", () => {
    const text = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tQ0E=
    server: https://192.0.2.1:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: kubernetes-admin
  name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
kind: Config
preferences: {}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: LS0tQ0VSVA==
    client-key-data: LS0tS0VZ
`;
    expect(parseYaml(text)).toEqual({
      apiVersion: "v1",
      clusters: [
        { cluster: { "certificate-authority-data": "LS0tQ0E=", server: "https://192.0.2.1:6443" }, name: "kubernetes" },
      ],
      contexts: [{ context: { cluster: "kubernetes", user: "kubernetes-admin" }, name: "kubernetes-admin@kubernetes" }],
      "current-context": "kubernetes-admin@kubernetes",
      kind: "Config",
      preferences: {},
      users: [
        {
          name: "kubernetes-admin",
          user: { "client-certificate-data": "LS0tQ0VSVA==", "client-key-data": "LS0tS0VZ" },
        },
      ],
    });
  });

  it("handles sequences indented under their key, quotes, comments, booleans and block scalars", () => {
    const text = `---
# a comment
clusters:
  - name: "quoted # not a comment"
    cluster:
      server: 'https://h:6443' # trailing comment
      insecure-skip-tls-verify: true
users:
  - name: u
    user:
      token: |
        abc
      args: [a, "b c"]
`;
    expect(parseYaml(text)).toEqual({
      clusters: [
        { name: "quoted # not a comment", cluster: { server: "https://h:6443", "insecure-skip-tls-verify": true } },
      ],
      users: [{ name: "u", user: { token: "abc\n", args: ["a", "b c"] } }],
    });
  });

  it("names the line of unsupported or broken input", () => {
    expect(() => parseYaml("a: &x 1\nb: *x\n")).toThrow(/line 1: YAML anchors/);
    expect(() => parseYaml("a: 1\n---\nb: 2\n")).toThrow(/line 2: only one YAML document/);
    expect(() => parseYaml("a: 1\n   b: 2\n")).toThrow(YamlError);
  });
});
