import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseBuildArgs, RUNTIME_INTEGRITY, runtimeIntegrity, TARGETS, targetOutfile } from "./build-targets.ts";
import { REPO_ROOT } from "./layout.ts";

describe("build targets", () => {
  it("builds for the host only when no target is named (what the tests run)", () => {
    expect(parseBuildArgs([])).toEqual({ targets: undefined });
  });

  it("takes --target as name, comma list or `all`, in both flag syntaxes", () => {
    expect(parseBuildArgs(["--target=linux-arm64"]).targets).toEqual(["linux-arm64"]);
    expect(parseBuildArgs(["--target", "linux-x64-baseline,linux-arm64"]).targets).toEqual([
      "linux-x64-baseline",
      "linux-arm64",
    ]);
    expect(parseBuildArgs(["--target=all"]).targets).toEqual(["linux-x64-baseline", "linux-x64", "linux-arm64"]);
  });

  it("refuses an unknown target or argument and lists the targets", () => {
    expect(() => parseBuildArgs(["--target=linux-riscv64"])).toThrow(/unknown target "linux-riscv64"[^]*linux-arm64/);
    expect(() => parseBuildArgs(["--targets=linux-arm64"])).toThrow(/unknown argument/);
    expect(() => parseBuildArgs(["--target"])).toThrow(/--target needs a value/);
  });

  it("takes a hand-given runtime for exactly one target", () => {
    expect(parseBuildArgs(["--target=linux-arm64", "--compile-executable-path=/tmp/bun"])).toEqual({
      targets: ["linux-arm64"],
      runtimePath: "/tmp/bun",
    });
    expect(() => parseBuildArgs(["--target=all", "--compile-executable-path=/tmp/bun"])).toThrow(/exactly one/);
  });

  it("pins every target's runtime integrity for the Bun version in package.json", () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
      devDependencies: Record<string, string>;
    };
    const version = pkg.devDependencies["bun"] ?? "";
    for (const t of Object.keys(TARGETS) as (keyof typeof TARGETS)[])
      expect(runtimeIntegrity(version, t)).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
    expect(Object.keys(RUNTIME_INTEGRITY)).toContain(version);
  });

  it("says how to pin a runtime of a Bun version it does not know", () => {
    expect(() => runtimeIntegrity("0.0.1", "linux-arm64")).toThrow(
      "npm view @oven/bun-linux-aarch64@0.0.1 dist.integrity",
    );
  });

  it("puts each target's binary in its own dist folder", () => {
    expect(targetOutfile("linux-arm64")).toBe("dist/linux-arm64/weft");
  });
});
