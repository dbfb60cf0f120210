/** The flags `bun build` compiles dist/weft with (scripts/build.ts; bench/startup.ts builds its baseline with them). */
// --bytecode: precompiled bytecode (CJS), so an exec does not parse the source. No .env / bunfig.toml /
// tsconfig.json / package.json autoload (the last two are off by default; said anyway): a file in the
// kubelet's working directory must never change what a plugin does.
// --compile-jit-policy=10: JIT tier-up thresholds x10. A CNI exec is a short burst of run-once code;
// compiling it on the JIT threads costs more CPU than it saves. bin/weft.ts restores the normal policy
// for flanneld, which runs for days.
// --format=esm --splitting: each role (a dynamic import in bin/roles.ts) becomes its own chunk, so an
// exec loads the bytecode of its role only, not the daemon's and cnitool's. Node builtins imported by
// a chunk load with that chunk.
// BENCHMARKS.md has what each of these saves.
export const BUILD_FLAGS: readonly string[] = [
  "--compile",
  "--bytecode",
  "--format=esm",
  "--splitting",
  "--minify",
  "--sourcemap=none",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  "--no-compile-autoload-tsconfig",
  "--no-compile-autoload-package-json",
  "--compile-jit-policy=10",
];
