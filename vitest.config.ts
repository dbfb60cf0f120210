import { defineConfig } from "vitest/config";

// Two layers of tests:
//  - unit: colocated *.test.ts, fakes only, no root, fast.
//  - root: *.root.test.ts and conformance/, real network namespaces, run one file at a time.
// Code importing bun:ffi is never imported here; root tests reach it through dist/weft
// or a `bun` subprocess.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["{bin,net,libcni,plugins,linux,daemon,scripts,netns-fixtures,bench}/**/*.test.ts"],
          exclude: ["**/*.root.test.ts", "**/node_modules/**"],
        },
      },
      {
        test: {
          name: "root",
          include: ["**/*.root.test.ts", "conformance/**/*.test.ts"],
          exclude: ["**/node_modules/**"],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
