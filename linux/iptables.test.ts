import { describe, expect, it } from "vitest";
import { CommandError, RecordingRunner } from "./command.ts";
import { Iptables } from "./iptables.ts";

const natList = "-P PREROUTING ACCEPT\n-P POSTROUTING ACCEPT\n-N FLANNEL-POSTRTG\n-A POSTROUTING -j FLANNEL-POSTRTG\n";

describe("Iptables", () => {
  it("runs ip6tables for family 6 with --wait and the table", async () => {
    const r = new RecordingRunner();
    await new Iptables({ family: 6, runner: r }).append("nat", "POSTROUTING", ["-s", "fd00::/64", "-j", "MASQUERADE"]);
    expect(r.calls).toEqual([{ cmd: "ip6tables", args: ["--wait", "-t", "nat", "-A", "POSTROUTING", "-s", "fd00::/64", "-j", "MASQUERADE"] }]);
  });

  it("finds chains in -S output and creates a missing chain only once", async () => {
    const r = new RecordingRunner((c) => (c.args.includes("-S") ? { stdout: natList } : {}));
    const ipt = new Iptables({ runner: r, wait: false });
    expect(await ipt.listChains("nat")).toEqual(["PREROUTING", "POSTROUTING", "FLANNEL-POSTRTG"]);
    await ipt.ensureChain("nat", "FLANNEL-POSTRTG");
    await ipt.ensureChain("nat", "CNI-abc");
    expect(r.calls.filter((c) => c.args.includes("-N")).map((c) => c.args)).toEqual([["-t", "nat", "-N", "CNI-abc"]]);
  });

  it("clears an existing chain by flushing it and creates it otherwise", async () => {
    const r = new RecordingRunner((c) => (c.args.includes("-S") ? { stdout: natList } : {}));
    const ipt = new Iptables({ runner: r, wait: false });
    await ipt.clearChain("nat", "FLANNEL-POSTRTG");
    await ipt.clearChain("nat", "FLANNEL-NEW");
    expect(r.calls.filter((c) => !c.args.includes("-S")).map((c) => c.args.slice(2))).toEqual([
      ["-F", "FLANNEL-POSTRTG"],
      ["-N", "FLANNEL-NEW"],
    ]);
  });

  it("treats exit 1 of -C as 'absent' and other failures as errors", async () => {
    let code = 1;
    const ipt = new Iptables({ runner: new RecordingRunner(() => ({ exitCode: code, stderr: "iptables: Bad rule" })) });
    expect(await ipt.exists("nat", "X", ["-j", "RETURN"])).toBe(false);
    code = 0;
    expect(await ipt.exists("nat", "X", ["-j", "RETURN"])).toBe(true);
    code = 2;
    await expect(ipt.exists("nat", "X", ["-j", "RETURN"])).rejects.toBeInstanceOf(CommandError);
  });

  it("appends unique rules and deletes only present ones", async () => {
    const present = new Set<string>();
    const r = new RecordingRunner((c) => {
      const [, , , op, , ...rule] = c.args;
      const key = rule.join(" ");
      if (op === "-C") return { exitCode: present.has(key) ? 0 : 1 };
      if (op === "-A") present.add(key);
      if (op === "-D") present.delete(key);
      return {};
    });
    const ipt = new Iptables({ runner: r });
    await ipt.appendUnique("nat", "X", ["-j", "RETURN"]);
    await ipt.appendUnique("nat", "X", ["-j", "RETURN"]);
    expect(r.calls.filter((c) => c.args[3] === "-A")).toHaveLength(1);
    expect(await ipt.deleteIfExists("nat", "X", ["-j", "RETURN"])).toBe(true);
    expect(await ipt.deleteIfExists("nat", "X", ["-j", "RETURN"])).toBe(false);
  });

  it("feeds iptables-restore with --noflush --wait and reports its stderr on failure", async () => {
    const r = new RecordingRunner((c) => (c.cmd === "iptables-restore" ? { exitCode: 1, stderr: "line 3 failed" } : {}));
    const ipt = new Iptables({ runner: r });
    await expect(ipt.restore("*nat\nCOMMIT\n")).rejects.toThrow(/iptables-restore --noflush --wait exited with status 1: line 3 failed/);
    expect(r.calls[0]).toEqual({ cmd: "iptables-restore", args: ["--noflush", "--wait"], input: "*nat\nCOMMIT\n" });
  });

  it("reads the version and knows --random-fully arrived in 1.6.2", async () => {
    const at = (v: string) => new Iptables({ runner: new RecordingRunner(() => ({ stdout: `iptables ${v}\n` })) });
    expect(await at("v1.8.9 (nf_tables)").version()).toEqual({ major: 1, minor: 8, patch: 9, mode: "nf_tables" });
    expect(await at("v1.6.2").hasRandomFully()).toBe(true);
    expect(await at("v1.6.1").hasRandomFully()).toBe(false);
    expect((await at("v1.4.21").version()).mode).toBe("legacy");
  });

  it("lists only the -A rules of a chain", async () => {
    const r = new RecordingRunner(() => ({ stdout: "-N X\n-A X -s 10.0.0.0/8 -j RETURN\n" }));
    expect(await new Iptables({ runner: r }).listRules("nat", "X")).toEqual(["-A X -s 10.0.0.0/8 -j RETURN"]);
  });
});
