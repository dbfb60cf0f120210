import { describe, expect, it } from "vitest";
import {
  ENTRY,
  REPO_ROOT,
  buildGraph,
  checkLayout,
  fileKind,
  importCycles,
  importsByFolder,
  parseImports,
  productFolderLines,
  reachableFrom,
  report,
  scanRepo,
  layerViolations,
  loadedWith,
} from "./layout.ts";

const graphOf = (files: Record<string, string>) => buildGraph("/repo", new Map(Object.entries(files)));
const messages = (c: ReturnType<typeof checkLayout>): string[] =>
  [...c.shippedImportsNonProduct, ...c.unreachableProduct].map((v) => v.message);

describe("the repository layout", () => {
  const graph = scanRepo(REPO_ROOT);
  const reachable = reachableFrom(graph);

  it("imports point down the layers: bin -> plugins, daemon -> libcni, linux -> net, and nothing up to bin/", () => {
    const found = layerViolations(graph).map((v) => v.message);
    expect(found, `\n${found.join("\n")}\n`).toEqual([]);
  });

  it("imports no worker thread's entry module at run time (its top level would run in the importing thread)", () => {
    const entries = new Set(
      [...graph.files.values()].flatMap((f) => f.edges.filter((e) => e.kind === "worker").map((e) => e.to)),
    );
    expect(entries.size).toBeGreaterThan(0);
    const bad = [...graph.files.values()].flatMap((f) =>
      f.edges
        .filter((e) => entries.has(e.to) && e.kind !== "worker" && !e.typeOnly && e.kind !== "type")
        .map((e) => `${f.path}:${e.line} imports ${e.to}`),
    );
    expect(bad).toEqual([]);
  });

  it("has no import cycle", () => {
    expect(importCycles(graph)).toEqual([]);
  });

  it("loads neither the skel, the schema validators nor netlink before the flannel exec relays its call", () => {
    const thin = [...loadedWith(graph, "plugins/flannel/relay.ts"), ...loadedWith(graph, ENTRY)];
    const heavy = thin.filter((f) => /^libcni\/(skel|validate\/(index|fields|generated))|^linux\/netlink\//.test(f));
    expect(heavy).toEqual([]);
    expect(thin).toContain("linux/unix-socket.ts");
  });

  it("reaches every role of the binary from bin/weft.ts, through the dynamic imports of the role table", () => {
    const roles = [
      "bin/plugins.ts",
      "plugins/flannel/relay.ts",
      "plugins/flannel/plugin.ts",
      "plugins/bridge/plugin.ts",
      "plugins/host-local/plugin.ts",
      "plugins/loopback/plugin.ts",
      "daemon/main.ts",
      "daemon/cni-server/server.ts",
      "daemon/cni-server/worker.ts",
      "libcni/cli/cnitool.ts",
    ];
    for (const f of ["bin/roles.ts", ...roles]) {
      expect(reachable.has(f), `${f} reachable from ${ENTRY}`).toBe(true);
    }
  });

  it("shipped code (reachable from bin/weft.ts) imports product code only, never test support or tooling", () => {
    const found = checkLayout(graph, reachable).shippedImportsNonProduct.map((v) => v.message);
    expect(found, `\n${found.join("\n")}\n`).toEqual([]);
  });

  it("every code file in a product folder is reachable from bin/weft.ts, a test, or under a testing/ folder", () => {
    const found = checkLayout(graph, reachable).unreachableProduct.map((v) => v.message);
    expect(found, `\n${found.join("\n")}\n`).toEqual([]);
  });
});

describe("import parsing", () => {
  it("finds static, type-only, re-export, dynamic, import-type and require imports with their lines", () => {
    const src = [
      'import { a } from "./a.ts";',
      'import type { B } from "./b.ts";',
      'export { c } from "./c.ts";',
      'export * from "./d.ts";',
      'const e = await import("./e.ts");',
      'let f: import("./f.ts").F;',
      'const g = require("node:net");',
      'import "./side.ts";',
    ].join("\n");
    expect(parseImports("x.ts", src)).toEqual([
      { specifier: "./a.ts", kind: "import", typeOnly: false, line: 1 },
      { specifier: "./b.ts", kind: "import", typeOnly: true, line: 2 },
      { specifier: "./c.ts", kind: "export", typeOnly: false, line: 3 },
      { specifier: "./d.ts", kind: "export", typeOnly: false, line: 4 },
      { specifier: "./e.ts", kind: "dynamic", typeOnly: false, line: 5 },
      { specifier: "./f.ts", kind: "type", typeOnly: true, line: 6 },
      { specifier: "node:net", kind: "require", typeOnly: false, line: 7 },
      { specifier: "./side.ts", kind: "import", typeOnly: false, line: 8 },
    ]);
  });

  it("ignores import-looking text in comments, strings and templates, and computed dynamic imports", () => {
    const src = [
      '// import { a } from "./a.ts";',
      '/* import("./b.ts") */',
      "const s = \"import { c } from './c.ts'\";",
      'const t = `await import("./d.ts")`;',
      "const name = './e.ts';",
      "await import(name);",
    ].join("\n");
    expect(parseImports("x.ts", src)).toEqual([]);
  });

  it("resolves relative imports to files, a .js import to its generated .d.ts too, and keeps packages apart", () => {
    const g = graphOf({
      "libcni/validate/index.ts": [
        'import { v } from "./generated/validators.js";',
        'import Ajv from "ajv";',
        'import s from "./schema.json";',
      ].join("\n"),
      "libcni/validate/generated/validators.js": "export const v = 1;",
      "libcni/validate/generated/validators.d.ts": "export declare const v: number;",
    });
    const f = g.files.get("libcni/validate/index.ts");
    expect(f?.edges.map((e) => e.to)).toEqual([
      "libcni/validate/generated/validators.js",
      "libcni/validate/generated/validators.d.ts",
    ]);
    expect(f?.packages.map((p) => p.specifier)).toEqual(["ajv"]);
    expect(f?.unresolved.map((p) => p.specifier)).toEqual(["./schema.json"]);
  });
});

describe("graph analyses", () => {
  const g = graphOf({
    "bin/weft.ts": 'const load = () => import("../daemon/main.ts");\nimport { x } from "../libcni/x.ts";',
    "daemon/main.ts": 'import type { I } from "./network.ts";\nimport { ip } from "../net/ip.ts";',
    "daemon/network.ts": 'export const impl = () => import("./backend/index.ts");',
    "daemon/backend/index.ts": 'import type { I } from "../network.ts";\nimport { execa } from "execa";',
    "libcni/x.ts": 'import { y } from "./x.ts";',
    "net/ip.ts": "export const ip = 1;",
    "linux/unused.ts": "export const u = 1;",
  });

  it("reaches through dynamic and type-only imports", () => {
    expect([...reachableFrom(g)].sort()).toEqual([
      "bin/weft.ts",
      "daemon/backend/index.ts",
      "daemon/main.ts",
      "daemon/network.ts",
      "libcni/x.ts",
      "net/ip.ts",
    ]);
  });

  it("reports import cycles as strongly connected components, dynamic imports and self-imports included", () => {
    expect(importCycles(g)).toEqual([["daemon/backend/index.ts", "daemon/network.ts"], ["libcni/x.ts"]]);
  });

  it("lists each file's imports by top-level folder, packages under package:<name>", () => {
    const by = importsByFolder(g);
    const of = (f: string) => Object.fromEntries(by.get(f) ?? []);
    expect(of("daemon/main.ts")).toEqual({ daemon: ["daemon/network.ts"], net: ["net/ip.ts"] });
    expect(of("daemon/backend/index.ts")).toEqual({ daemon: ["daemon/network.ts"], "package:execa": ["execa"] });
  });

  it("counts lines per product folder: reachable, tests, testing/ and stray", () => {
    const lines = productFolderLines(g);
    const linux = lines.find((l) => l.folder === "linux");
    expect(linux).toMatchObject({ reachable: { files: 0, lines: 0 }, stray: { files: 1, lines: 1 } });
    expect(lines.find((l) => l.folder === "daemon")).toMatchObject({ reachable: { files: 3, lines: 5 } });
  });
});

describe("layout rules", () => {
  it("classifies files: product, test, test support, tooling", () => {
    expect(fileKind("plugins/bridge/add.ts")).toBe("product");
    expect(fileKind("plugins/bridge/add.test.ts")).toBe("test");
    expect(fileKind("linux/netlink.root.test.ts")).toBe("test");
    expect(fileKind("plugins/bridge/testing/fake-deps.ts")).toBe("test-support");
    expect(fileKind("plugins/host-local/testing/differential/runner.ts")).toBe("test-support");
    expect(fileKind("netns-fixtures/etcd/etcd.ts")).toBe("test-support");
    expect(fileKind("conformance/exec.ts")).toBe("test-support");
    expect(fileKind("bench/stats.ts")).toBe("test-support");
    expect(fileKind("scripts/build.ts")).toBe("tooling");
    expect(fileKind("vitest.config.ts")).toBe("tooling");
  });

  it("fails when shipped code imports a testing/ file, a fixture, a test or a script, naming both files", () => {
    const g = graphOf({
      "bin/weft.ts": 'import "../linux/a.ts";',
      "linux/a.ts": [
        'import { f } from "./testing/fake.ts";',
        'import { t } from "../netns-fixtures/topology/sh.ts";',
        'import { u } from "./b.test.ts";',
        'import { b } from "../scripts/build.ts";',
      ].join("\n"),
      "linux/testing/fake.ts": "",
      "linux/b.test.ts": "",
      "netns-fixtures/topology/sh.ts": "",
      "scripts/build.ts": "",
    });
    const found = checkLayout(g).shippedImportsNonProduct;
    expect(found.map((v) => v.file)).toEqual(["linux/a.ts", "linux/a.ts", "linux/a.ts", "linux/a.ts"]);
    expect(found[0]?.message).toMatch(/^linux\/a\.ts:1 is shipped .* imports test support linux\/testing\/fake\.ts: /);
    expect(found[3]?.message).toMatch(/imports tooling scripts\/build\.ts/);
  });

  it("fails on a product file nothing shipped reaches, saying who imports it and what to do", () => {
    const g = graphOf({
      "bin/weft.ts": "",
      "linux/fake.ts": "export class Fake {}",
      "linux/fake.test.ts": 'import { Fake } from "./fake.ts";',
      "linux/dead.ts": "export const d = 1;",
    });
    expect(messages(checkLayout(g))).toEqual([
      "linux/dead.ts (1 lines) is in product folder linux/ but bin/weft.ts never reaches it (nothing imports it): " +
        "if it is a fake or a driver, move it to the package's testing/ folder; if it is product code, give it a " +
        "caller in shipped code or delete it (and its tests)",
      expect.stringMatching(/^linux\/fake\.ts \(1 lines\) .* \(imported only by linux\/fake\.test\.ts\)/),
    ]);
  });

  it("accepts tests, testing/ folders, test-support and tooling folders that nothing shipped reaches", () => {
    const g = graphOf({
      "bin/weft.ts": 'import "../plugins/x/main.ts";',
      "plugins/x/main.ts": "",
      "plugins/x/main.test.ts": 'import "./testing/fake.ts";',
      "plugins/x/testing/fake.ts": 'import "../../../netns-fixtures/fuzz/fuzz.ts";',
      "netns-fixtures/fuzz/fuzz.ts": "",
      "conformance/exec.ts": "",
      "scripts/demo.ts": "",
    });
    expect(messages(checkLayout(g))).toEqual([]);
  });

  it("prints a report with the line counts, the cycles and the verdict", () => {
    const g = graphOf({ "bin/weft.ts": 'import "./a.ts";', "bin/a.ts": 'import "./weft.ts";' });
    const text = report(g);
    expect(text).toMatch(/^bin\/ +2 \(2\) +0 \(0\)/m);
    expect(text).toContain("Import cycles (dynamic and type-only imports counted): 1, 2 lines");
    expect(text).toContain("Layout rules: ok");
  });
});
