import { describe, expect, it } from "vitest";
import { countRules, detectIptablesMode, iptablesCommand, parseIptablesMode } from "./iptables-mode.ts";
import { RecordingRunner, type RecordedCommand } from "./testing/recording-runner.ts";

/** A node whose -save tools print `saves[cmd + args]`; a command missing from `installed` exits 127. */
function node(saves: Record<string, string>, installed = ["legacy", "nft"]): RecordingRunner {
  return new RecordingRunner((c: RecordedCommand) => {
    const variant = /-(legacy|nft)-save$/.exec(c.cmd)?.[1] ?? "";
    if (!installed.includes(variant)) return { exitCode: 127, stderr: `${c.cmd}: not found` };
    return { stdout: saves[[c.cmd, ...c.args].join(" ")] ?? "" };
  });
}

const HINT = "*mangle\n:PREROUTING ACCEPT [0:0]\n:KUBE-IPTABLES-HINT - [0:0]\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n";
const rules = (n: number) => {
  const lines = Array.from({ length: n }, (_, i) => `-A INPUT -s 192.0.2.${i} -j ACCEPT`);
  return `*filter\n:INPUT ACCEPT [0:0]\n${lines.join("\n")}\nCOMMIT\n`;
};

describe("iptables mode", () => {
  it("names the commands of each mode, and the plain alternatives without one", () => {
    expect(iptablesCommand("legacy", 4)).toBe("iptables-legacy");
    expect(iptablesCommand("legacy", 6, "restore")).toBe("ip6tables-legacy-restore");
    expect(iptablesCommand("nft", 4, "save")).toBe("iptables-nft-save");
    expect(iptablesCommand(undefined, 4, "restore")).toBe("iptables-restore");
    expect(iptablesCommand(undefined, 6)).toBe("ip6tables");
  });

  it("picks nft when the kubelet's hint chain is in iptables-nft's mangle table, without asking legacy", async () => {
    const r = node({ "iptables-nft-save -t mangle": HINT, "iptables-legacy-save": rules(50) });
    expect(await detectIptablesMode(r)).toEqual({
      mode: "nft",
      reason: "the kubelet's KUBE-IPTABLES-HINT chain is in iptables-nft",
    });
    expect(r.calls.map((c) => c.cmd)).toEqual(["iptables-nft-save", "ip6tables-nft-save"]);
  });

  it("picks legacy when the hint chain is in iptables-legacy, reading legacy without naming a table", async () => {
    const r = node({ "ip6tables-legacy-save": HINT, "iptables-nft-save": rules(3) });
    expect((await detectIptablesMode(r)).mode).toBe("legacy");
    expect(r.calls.filter((c) => c.cmd.includes("legacy")).map((c) => c.args)).toEqual([[], []]);
  });

  it("without a hint (no kubelet), picks the mode holding more rules, nft on a tie", async () => {
    expect(
      await detectIptablesMode(node({ "iptables-legacy-save": rules(4), "ip6tables-nft-save": rules(3) })),
    ).toEqual({ mode: "legacy", reason: "no kubelet hint chain; 4 legacy rules, 3 nft rules" });
    expect(
      (await detectIptablesMode(node({ "iptables-legacy-save": rules(2), "iptables-nft-save": rules(5) }))).mode,
    ).toBe("nft");
    expect(await detectIptablesMode(node({}))).toEqual({
      mode: "nft",
      reason: "no kubelet hint chain; 0 legacy rules, 0 nft rules",
    });
  });

  it("uses the variant that is installed when only one is", async () => {
    expect(await detectIptablesMode(node({}, ["legacy"]))).toEqual({
      mode: "legacy",
      reason: "iptables-nft is not installed",
    });
    expect(await detectIptablesMode(node({ "iptables-legacy-save": rules(9) }, ["nft"]))).toEqual({
      mode: "nft",
      reason: "iptables-legacy is not installed",
    });
    expect((await detectIptablesMode(node({}, []))).reason).toBe(
      "neither iptables-legacy-save nor iptables-nft-save could be run",
    );
  });

  it("counts only rule lines, not tables, chains or COMMIT", () => {
    expect(countRules(HINT)).toBe(0);
    expect(countRules(rules(3))).toBe(3);
  });

  it("accepts legacy, nft or auto as an override and says so for anything else", () => {
    expect(parseIptablesMode("Legacy", "WEFT_IPTABLES_MODE")).toBe("legacy");
    expect(parseIptablesMode(" nft", "WEFT_IPTABLES_MODE")).toBe("nft");
    expect(() => parseIptablesMode("xtables", "WEFT_IPTABLES_MODE")).toThrow(
      'WEFT_IPTABLES_MODE=xtables is not an iptables mode: use "legacy", "nft" or "auto"',
    );
  });
});
