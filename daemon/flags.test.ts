import { describe, expect, it } from "vitest";
import { FLAGS, FlagError, cniSocketPath, helpText, parseFlags } from "./flags.ts";

const parse = (argv: string[], env: Record<string, string> = {}) => parseFlags(argv, env);

describe("flanneld flags", () => {
  it("has the reference defaults when nothing is given", () => {
    const f = parse([]);
    expect(f.etcdEndpoints).toBe("http://127.0.0.1:4001,http://127.0.0.1:2379");
    expect(f.etcdPrefix).toBe("/coreos.com/network");
    expect(f.subnetFile).toBe("/run/flannel/subnet.env");
    expect(f.subnetLeaseRenewMargin).toBe(60);
    expect(f.iptablesResync).toBe(5);
    expect(f.iptablesForwardRules).toBe(true);
    expect(f.setNodeNetworkUnavailable).toBe(true);
    expect(f.netConfigPath).toBe("/etc/kube-flannel/net-conf.json");
    expect(f.kubeAnnotationPrefix).toBe("flannel.alpha.coreos.com");
    expect(f.healthzIp).toBe("0.0.0.0");
    expect(f.healthzPort).toBe(0);
    expect(f.iface).toEqual([]);
    expect(f.kubeSubnetMgr).toBe(false);
  });

  it("accepts Go flag syntax: one or two dashes, =value, separate value, bare bools and =false", () => {
    const f = parse([
      "-kube-subnet-mgr",
      "--ip-masq",
      "--iface=eth1",
      "-iface",
      "10.0.0.5",
      "--healthz-port",
      "8081",
      "--iptables-forward-rules=false",
      "-v=2",
    ]);
    expect(f.kubeSubnetMgr).toBe(true);
    expect(f.ipMasq).toBe(true);
    expect(f.iface).toEqual(["eth1", "10.0.0.5"]);
    expect(f.healthzPort).toBe(8081);
    expect(f.iptablesForwardRules).toBe(false);
    expect(f.v).toBe(2);
  });

  it("derives every environment name as FLANNELD_ plus the upper-cased flag with underscores", () => {
    const byFlag = new Map(FLAGS.map((f) => [f.flag, f.env]));
    expect(byFlag.get("etcd-endpoints")).toBe("FLANNELD_ETCD_ENDPOINTS");
    expect(byFlag.get("kube-subnet-mgr")).toBe("FLANNELD_KUBE_SUBNET_MGR");
    expect(byFlag.get("public-ip")).toBe("FLANNELD_PUBLIC_IP");
    expect(byFlag.get("healthz-port")).toBe("FLANNELD_HEALTHZ_PORT");
    expect(byFlag.get("v")).toBe("FLANNELD_V");
  });

  it("applies FLANNELD_* variables only to flags not on the command line", () => {
    const env = {
      FLANNELD_PUBLIC_IP: "192.0.2.9",
      FLANNELD_IP_MASQ: "true",
      FLANNELD_SUBNET_FILE: "/tmp/env",
      FLANNELD_IFACE: "eth9",
    };
    const f = parse(["--subnet-file=/cli/wins", "--iface", "eth0"], env);
    expect(f.publicIp).toBe("192.0.2.9");
    expect(f.ipMasq).toBe(true);
    expect(f.subnetFile).toBe("/cli/wins");
    expect(f.iface).toEqual(["eth0"]);
    expect(parse([], env).iface).toEqual(["eth9"]);
  });

  it("ignores empty environment variables", () => {
    expect(parse([], { FLANNELD_ETCD_PREFIX: "" }).etcdPrefix).toBe("/coreos.com/network");
  });

  it("names the variable when an environment value does not parse", () => {
    expect(() => parse([], { FLANNELD_HEALTHZ_PORT: "eighty" })).toThrow(/FLANNELD_HEALTHZ_PORT.*--healthz-port/);
    expect(() => parse([], { FLANNELD_IP_MASQ: "yes" })).toThrow(/invalid boolean "yes" for FLANNELD_IP_MASQ/);
  });

  it("rejects unknown flags, missing values and positional arguments with the fix", () => {
    expect(() => parse(["--nope"])).toThrow("flag provided but not defined: -nope");
    expect(() => parse(["--public-ip"])).toThrow("flag needs an argument: --public-ip");
    expect(() => parse(["extra"])).toThrow(/unexpected argument "extra"/);
    expect(() => parse(["--healthz-port=x"])).toThrow(FlagError);
  });

  it.each([0, 1440, -5])("rejects --subnet-lease-renew-margin=%i and says the allowed range", (m) => {
    expect(() => parse([`--subnet-lease-renew-margin=${m}`])).toThrow(
      /--subnet-lease-renew-margin=.* between 1 and 1439/,
    );
  });

  it("accepts the margin limits 1 and 1439", () => {
    expect(parse(["--subnet-lease-renew-margin=1"]).subnetLeaseRenewMargin).toBe(1);
    expect(parse(["--subnet-lease-renew-margin=1439"]).subnetLeaseRenewMargin).toBe(1439);
  });

  it("validates the annotation prefix like flannel", () => {
    expect(parse(["--kube-annotation-prefix=example.com/flannel"]).kubeAnnotationPrefix).toBe("example.com/flannel");
    expect(() => parse(["--kube-annotation-prefix=a/b/c"])).toThrow(/has 2 slashes: use at most one/);
    expect(() => parse(["--kube-annotation-prefix=noDots"])).toThrow(/fqdn\/\[0-9a-z-_\]\*/);
    expect(() => parse(["--kube-annotation-prefix=Example.com"])).toThrow(/lower-case domain/);
  });

  it("prints every flag with its environment variable in --help", () => {
    const h = helpText();
    for (const f of FLAGS) expect(h).toContain(`--${f.flag}`);
    expect(h).toContain("[$FLANNELD_ETCD_ENDPOINTS]");
    expect(h).toContain("(default /run/flannel/subnet.env)");
    expect(parse(["-h"]).help).toBe(true);
  });

  it("puts the CNI socket beside the subnet file unless --cni-socket says where; empty turns it off", () => {
    expect(cniSocketPath(parseFlags([], {}))).toBe("/run/flannel/cni.sock");
    expect(cniSocketPath(parseFlags(["--subnet-file=/var/run/x/s.env"], {}))).toBe("/var/run/x/cni.sock");
    expect(cniSocketPath(parseFlags(["--subnet-file=s.env"], {}))).toBe("./cni.sock");
    expect(cniSocketPath(parseFlags(["--cni-socket", "/tmp/c.sock"], {}))).toBe("/tmp/c.sock");
    expect(cniSocketPath(parseFlags([], { FLANNELD_CNI_SOCKET: "/tmp/e.sock" }))).toBe("/tmp/e.sock");
    expect(cniSocketPath(parseFlags(["--cni-socket="], {}))).toBeUndefined();
  });
});
