/**
 * The platforms `npm run build -- --target=<name>` compiles dist/<name>/weft for, and where their Bun
 * runtimes come from. Pure data and argument parsing (no Bun API), so the unit tests import it.
 *
 * A compiled executable is a Bun runtime with our bundle appended. For another platform, bun build
 * needs that platform's runtime: the `@oven/bun-linux-*` npm package of the same Bun version (the
 * bytecode is tied to the version). scripts/build.ts fetches it with `npm pack` (npm's cache, so a
 * second build works offline), checks the tarball against the integrity pinned below, unpacks
 * `package/bin/bun` and hands it to `bun build --compile-executable-path`, so bun never downloads
 * anything itself.
 */

export interface BuildTarget {
  /** `--target` of `bun build --compile`. */
  readonly bunTarget: string;
  /** The npm package holding this platform's Bun runtime at `package/bin/bun`. */
  readonly runtimePackage: string;
  /** Debian's name of the architecture (images, qemu). */
  readonly debianArch: "amd64" | "arm64";
  readonly about: string;
}

export const TARGETS = {
  "linux-x64-baseline": {
    bunTarget: "bun-linux-x64-baseline",
    runtimePackage: "@oven/bun-linux-x64-baseline",
    debianArch: "amd64",
    about: "x86-64 glibc, Nehalem (2008) or later, no AVX2 needed: the one to ship for amd64 nodes",
  },
  "linux-x64": {
    bunTarget: "bun-linux-x64",
    runtimePackage: "@oven/bun-linux-x64",
    debianArch: "amd64",
    about: "x86-64 glibc, CPUs with AVX2 (Haswell and later)",
  },
  "linux-arm64": {
    bunTarget: "bun-linux-arm64",
    runtimePackage: "@oven/bun-linux-aarch64",
    debianArch: "arm64",
    about: "aarch64 glibc (Graviton, Ampere, Raspberry Pi 4/5 with a 64-bit OS)",
  },
} as const satisfies Record<string, BuildTarget>;

export type TargetName = keyof typeof TARGETS;

/**
 * The npm registry's `dist.integrity` of each runtime tarball, per Bun version
 * (`npm view @oven/bun-linux-aarch64@<version> dist.integrity`). A Bun upgrade adds a row.
 */
export const RUNTIME_INTEGRITY: Readonly<Record<string, Readonly<Record<TargetName, string>>>> = {
  "1.4.5": {
    "linux-x64-baseline":
      "sha512-s8yMwYcFnnrA178gji0gZbkE2WVDej/Ti1x770oPfihxyRxSMNhGhiAQNXV53aDeraZxksdvKV/RAdQBCd0qPA==",
    "linux-x64": "sha512-IWX9BELoGHAUtMonkeSaNaZwXzRk+oDw6Mk+HBFXd3KHYIBNBsIGRupMZPcgNoDbJpLu6gAJjIoIVPZtt1aJ1g==",
    "linux-arm64": "sha512-4BXmsSKnjOrlGWqZV4x/oWa7AVoR+B6lCXddMzOAXBIm3t50eslg9wb66gmtW1AamEQ1l1CDvmmruysEhqOWMg==",
  },
};

export function isTarget(name: string): name is TargetName {
  return Object.hasOwn(TARGETS, name);
}

/** The pinned integrity of `target`'s runtime for Bun `version`, or an error saying how to add it. */
export function runtimeIntegrity(version: string, target: TargetName): string {
  const pinned = RUNTIME_INTEGRITY[version]?.[target];
  if (pinned) return pinned;
  const pkg = TARGETS[target].runtimePackage;
  throw new Error(
    `no pinned integrity for ${pkg}@${version}: add a "${version}" row to RUNTIME_INTEGRITY in ` +
      `scripts/build-targets.ts (\`npm view ${pkg}@${version} dist.integrity\`)`,
  );
}

export interface BuildRequest {
  /** undefined: the host build (dist/weft and the role links, what the tests run). */
  readonly targets: readonly TargetName[] | undefined;
  /** A runtime given by hand (`--compile-executable-path`), for a single target. */
  readonly runtimePath?: string;
}

export const BUILD_USAGE =
  "usage: bun scripts/build.ts [--target=<name>[,<name>...]|all] [--compile-executable-path=<bun runtime>]\n" +
  Object.entries(TARGETS)
    .map(([n, t]) => `  ${n.padEnd(20)} ${t.about}`)
    .join("\n");

/** Parse the build script's arguments (`--target x`, `--target=x,y`, `--target=all`). */
export function parseBuildArgs(argv: readonly string[]): BuildRequest {
  let targets: TargetName[] | undefined;
  let runtimePath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const [flag, inline] = arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === "") throw new Error(`${flag} needs a value\n${BUILD_USAGE}`);
      return v;
    };
    if (flag === "--target") {
      const names = value().split(",");
      const picked = names.includes("all") ? (Object.keys(TARGETS) as TargetName[]) : names;
      for (const n of picked) if (!isTarget(n)) throw new Error(`unknown target ${JSON.stringify(n)}\n${BUILD_USAGE}`);
      targets = [...new Set([...(targets ?? []), ...(picked as TargetName[])])];
    } else if (flag === "--compile-executable-path") {
      runtimePath = value();
    } else {
      throw new Error(`unknown argument ${JSON.stringify(arg)}\n${BUILD_USAGE}`);
    }
  }
  if (runtimePath !== undefined && targets?.length !== 1)
    throw new Error(`--compile-executable-path needs exactly one --target\n${BUILD_USAGE}`);
  return { targets, ...(runtimePath !== undefined ? { runtimePath } : {}) };
}

/** Where a target's binary goes, relative to the repository root. */
export function targetOutfile(target: TargetName): string {
  return `dist/${target}/weft`;
}
