import { describe, expect, it } from "vitest";
import { FlagError } from "../flags.ts";
import { fail, ok, warn } from "./check.ts";
import { doctorHelp, parseDoctorArgs } from "./options.ts";
import { formatJson, formatTable } from "./report.ts";

describe("weft doctor command line", () => {
  it("takes its own flags and hands the rest to flanneld's parser, with FLANNELD_* environment", () => {
    const { options, flags } = parseDoctorArgs(
      ["--json", "--cni-path", "/a:/b", "--kube-subnet-mgr", "--healthz-port=8081", "--probe-timeout=300"],
      { FLANNELD_SUBNET_FILE: "/x/subnet.env", NETCONFPATH: "/net.d" },
    );
    expect(options).toMatchObject({ json: true, cniPath: ["/a", "/b"], probeTimeoutMs: 300, cniConfDir: "/net.d" });
    expect(flags).toMatchObject({ kubeSubnetMgr: true, healthzPort: 8081, subnetFile: "/x/subnet.env" });
  });

  it("defaults follow the runtime's environment: CNI_PATH, CNI_CACHE_DIR", () => {
    const { options } = parseDoctorArgs([], { CNI_PATH: "/opt/cni/bin:/usr/lib/cni", CNI_CACHE_DIR: "/c" });
    expect(options.cniPath).toEqual(["/opt/cni/bin", "/usr/lib/cni"]);
    expect(options.cniCacheDir).toBe("/c");
    expect(options.ipamDataDir).toBeUndefined();
  });

  it("a flag neither knows is refused, naming it", () => {
    expect(() => parseDoctorArgs(["--nope"], {})).toThrow(FlagError);
    expect(() => parseDoctorArgs(["--probe-timeout=soon"], {})).toThrow(/--probe-timeout=soon/);
  });

  it("help lists the doctor's flags", () => {
    expect(parseDoctorArgs(["-h"], {}).options.help).toBe(true);
    expect(doctorHelp()).toContain("--cni-conf-dir");
  });
});

describe("doctor report", () => {
  const rs = [
    ok("a", "first", "all good"),
    warn("b", "second", "meh", "tune it"),
    fail("c", "third", "broken ".repeat(20).trim(), "fix it this way"),
  ];

  it("prints a row per check with the fix under failures, wrapped, and a count", () => {
    const t = formatTable(rs, 80);
    const lines = t.split("\n");
    expect(lines[0]).toBe("ok    first   all good");
    expect(lines[1]).toBe("WARN  second  meh");
    expect(lines[2]).toBe("              fix: tune it");
    expect(lines.every((l) => l.length <= 80)).toBe(true);
    expect(t).toContain("fix: fix it this way");
    expect(t.trimEnd().endsWith("1 ok, 1 warnings, 1 failed, 0 skipped")).toBe(true);
  });

  it("--json carries every check and whether the node passed", () => {
    const doc = JSON.parse(formatJson(rs)) as { ok: boolean; failed: number; checks: unknown[] };
    expect(doc.ok).toBe(false);
    expect(doc.failed).toBe(1);
    expect(doc.checks).toHaveLength(3);
  });
});
