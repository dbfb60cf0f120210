// The repository's import graph and the layout rules checked on it (scripts/layout.test.ts runs them in the
// unit tests). Pure TypeScript on Node or Bun: `bun scripts/layout.ts` prints the report below and exits 1
// when a rule is broken; `--json` prints the graph summary as JSON instead.
//
// What is parsed: every .ts / .js file under the repository except node_modules/, dist/ and dot folders.
// Edges are static imports (also `import type`), `export ... from`, dynamic `import("...")`, type-position
// `import("...").T` and `require("...")` with a literal relative specifier. An import of `x.js` that has a
// generated `x.d.ts` beside it reaches both.
//
// Kinds of file:
// - product: a code file in a product folder (PRODUCT_FOLDERS) that is not a test and not under `testing/`;
// - test: `*.test.ts` (unit, `.root.test.ts`, `.etcd.test.ts`), kept beside the module it tests;
// - test support: anything under a `testing/` folder, under netns-fixtures/, conformance/ or bench/, and tests;
// - tooling: scripts/ and root files such as vitest.config.ts.
// Data is data: only .ts / .js files are code. JSON, golden files, shell or node test-double plugins in a
// `testdata/` folder and libcni/validate/schemas/*.json are not part of the graph and need no caller; a .ts file
// in a `testdata/` folder is code like any other (a driver or helper belongs in the package's `testing/`).
//
// The rules:
// (a) shipped code (reachable from bin/weft.ts) imports only product files: never test support, never tooling;
// (b) every product file is reachable from bin/weft.ts (else: move it to `testing/`, give it a caller, or delete
//     it).
import ts from "typescript";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Folders whose code ships in dist/weft (with `testing/` subfolders and tests excluded). */
export const PRODUCT_FOLDERS: readonly string[] = ["bin", "libcni", "plugins", "linux", "daemon", "net"];
/** Top-level folders that hold test support only. */
export const TEST_SUPPORT_FOLDERS: readonly string[] = ["netns-fixtures", "conformance", "bench"];
/** The entry of the multi-call binary: what it reaches is the product. */
export const ENTRY = "bin/weft.ts";

const SKIPPED_DIRS = new Set(["node_modules", "dist", "coverage"]);
const CODE_FILE = /\.(ts|js|mts|mjs|cts|cjs)$/;

export type ImportKind = "import" | "export" | "dynamic" | "type" | "require" | "worker" | "url";

export interface Import {
  /** The specifier as written. */
  readonly specifier: string;
  readonly kind: ImportKind;
  /** `import type` / `export type`: no code is loaded. */
  readonly typeOnly: boolean;
  /** 1-based line of the specifier. */
  readonly line: number;
}

export interface Edge extends Import {
  /** Repository-relative path of the imported code file. */
  readonly to: string;
}

export interface SourceFile {
  /** Repository-relative path with `/` separators. */
  readonly path: string;
  readonly lines: number;
  /** Imports resolved to code files of the repository. */
  readonly edges: readonly Edge[];
  /** Package and builtin imports (`ajv`, `node:fs`, `bun:ffi`), as written. */
  readonly packages: readonly Import[];
  /** Relative imports that name no code file (JSON modules, missing files). */
  readonly unresolved: readonly Import[];
}

export interface Graph {
  readonly root: string;
  readonly files: ReadonlyMap<string, SourceFile>;
}

export type FileKind = "product" | "test" | "test-support" | "tooling";

/** First path segment: the top-level folder, or "." for a file at the root. */
export function topFolder(path: string): string {
  const i = path.indexOf("/");
  return i < 0 ? "." : path.slice(0, i);
}

export function isTest(path: string): boolean {
  return /\.test\.(ts|js|mts|mjs)$/.test(path);
}

export function inTestingFolder(path: string): boolean {
  return path.split("/").slice(0, -1).includes("testing");
}

export function isProductFolder(path: string): boolean {
  return PRODUCT_FOLDERS.includes(topFolder(path));
}

/** Test support: tests, `testing/` folders and the test-only top-level folders. */
export function isTestSupport(path: string): boolean {
  return isTest(path) || inTestingFolder(path) || TEST_SUPPORT_FOLDERS.includes(topFolder(path));
}

export function fileKind(path: string): FileKind {
  if (isTest(path)) return "test";
  if (isTestSupport(path)) return "test-support";
  return isProductFolder(path) ? "product" : "tooling";
}

/** The imports of one file's text, in source order. */
export function parseImports(path: string, text: string): Import[] {
  const kind = /\.[mc]?js$/.test(path) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, kind);
  const startsWorkers = text.includes("new Worker(");
  const out: Import[] = [];
  const add = (lit: ts.Node, k: ImportKind, typeOnly: boolean): void => {
    if (!ts.isStringLiteral(lit) && !ts.isNoSubstitutionTemplateLiteral(lit)) return;
    const line = sf.getLineAndCharacterOfPosition(lit.getStart(sf)).line + 1;
    out.push({ specifier: lit.text, kind: k, typeOnly, line });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      add(node.moduleSpecifier, "import", node.importClause?.isTypeOnly ?? false);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined) {
      add(node.moduleSpecifier, "export", node.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, "require", node.isTypeOnly);
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg)) add(arg.literal, "type", true);
    } else if (ts.isCallExpression(node) && node.arguments.length > 0) {
      const first = node.arguments[0];
      if (first !== undefined) {
        if (node.expression.kind === ts.SyntaxKind.ImportKeyword) add(first, "dynamic", false);
        else if (ts.isIdentifier(node.expression) && node.expression.text === "require") add(first, "require", false);
      }
    } else if (ts.isNewExpression(node) && isModuleUrl(node)) {
      // new URL("./x.ts", import.meta.url): in a file that starts workers, a worker thread's entry module
      const first = node.arguments?.[0];
      if (first !== undefined) add(first, startsWorkers ? "worker" : "url", false);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** `new URL("<relative>", import.meta.url)` */
function isModuleUrl(node: ts.NewExpression): boolean {
  const args = node.arguments ?? [];
  const base = args[1];
  return (
    ts.isIdentifier(node.expression) &&
    node.expression.text === "URL" &&
    args.length === 2 &&
    base !== undefined &&
    ts.isPropertyAccessExpression(base) &&
    ts.isMetaProperty(base.expression) &&
    base.name.text === "url"
  );
}

/** Number of lines as `wc -l` counts them for a file ending in a newline. */
export function countLines(text: string): number {
  if (text.length === 0) return 0;
  const n = text.split("\n").length;
  return text.endsWith("\n") ? n - 1 : n;
}

/** Repository-relative paths of the code files under root. */
export function listCodeFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith(".") || SKIPPED_DIRS.has(e.name)) continue;
      const full = join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile() && CODE_FILE.test(e.name)) out.push(relative(root, full).split(sep).join("/"));
    }
  };
  walk(root);
  return out.sort();
}

/** Builds the graph from in-memory sources (path -> text); `scanRepo` reads them from disk. */
export function buildGraph(root: string, sources: ReadonlyMap<string, string>): Graph {
  const files = new Map<string, SourceFile>();
  for (const [path, text] of sources) {
    const edges: Edge[] = [];
    const packages: Import[] = [];
    const unresolved: Import[] = [];
    for (const imp of parseImports(path, text)) {
      if (!imp.specifier.startsWith("./") && !imp.specifier.startsWith("../")) {
        packages.push(imp);
        continue;
      }
      const target = posix.normalize(posix.join(posix.dirname(path), imp.specifier));
      const targets = [target];
      if (/\.[mc]?js$/.test(target)) targets.push(target.replace(/\.([mc]?)js$/, ".d.$1ts"));
      const found = targets.filter((t) => sources.has(t));
      if (found.length === 0) unresolved.push(imp);
      for (const to of found) edges.push({ ...imp, to });
    }
    files.set(path, { path, lines: countLines(text), edges, packages, unresolved });
  }
  return { root, files };
}

export function scanRepo(root: string): Graph {
  const sources = new Map<string, string>();
  for (const path of listCodeFiles(root)) sources.set(path, readFileSync(join(root, path), "utf8"));
  return buildGraph(root, sources);
}

/** Files reachable from the entries over every kind of edge (type-only ones too). */
export function reachableFrom(graph: Graph, entries: readonly string[] = [ENTRY]): Set<string> {
  const seen = new Set<string>();
  const stack = entries.filter((e) => graph.files.has(e));
  while (stack.length > 0) {
    const path = stack.pop();
    if (path === undefined || seen.has(path)) continue;
    seen.add(path);
    for (const e of graph.files.get(path)?.edges ?? []) if (!seen.has(e.to)) stack.push(e.to);
  }
  return seen;
}

/** Files that import `path`. */
export function importersOf(graph: Graph, path: string): string[] {
  const out: string[] = [];
  for (const f of graph.files.values()) if (f.edges.some((e) => e.to === path)) out.push(f.path);
  return out.sort();
}

/**
 * Import cycles: the strongly connected components of the graph (every edge kind counts, dynamic and
 * type-only imports included) with more than one file, or one file importing itself. Files sorted inside a
 * cycle; cycles sorted by their first file.
 */
export function importCycles(graph: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  const succ = (p: string): string[] => [...new Set((graph.files.get(p)?.edges ?? []).map((e) => e.to))];
  // Iterative Tarjan: a frame is a node and the index of its next successor to visit.
  for (const start of [...graph.files.keys()].sort()) {
    if (index.has(start)) continue;
    const frames: { node: string; succ: string[]; i: number }[] = [];
    const open = (node: string): void => {
      index.set(node, next);
      low.set(node, next);
      next++;
      stack.push(node);
      onStack.add(node);
      frames.push({ node, succ: succ(node), i: 0 });
    };
    open(start);
    while (frames.length > 0) {
      const f = frames[frames.length - 1];
      if (f === undefined) break;
      if (f.i < f.succ.length) {
        const w = f.succ[f.i++];
        if (w === undefined) continue;
        if (!index.has(w)) open(w);
        else if (onStack.has(w)) low.set(f.node, Math.min(low.get(f.node) ?? 0, index.get(w) ?? 0));
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent !== undefined) low.set(parent.node, Math.min(low.get(parent.node) ?? 0, low.get(f.node) ?? 0));
      if (low.get(f.node) === index.get(f.node)) {
        const scc: string[] = [];
        for (;;) {
          const w = stack.pop();
          if (w === undefined) break;
          onStack.delete(w);
          scc.push(w);
          if (w === f.node) break;
        }
        const selfLoop = scc.length === 1 && succ(f.node).includes(f.node);
        if (scc.length > 1 || selfLoop) out.push(scc.sort());
      }
    }
  }
  return out.sort((a, b) => (a[0] ?? "").localeCompare(b[0] ?? ""));
}

/**
 * Per file, the files it imports grouped by their top-level folder ("." for root files), and its package
 * imports under "package:<name>" (`package:node:fs`, `package:bun:ffi`, `package:execa`).
 */
export function importsByFolder(graph: Graph): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  for (const f of [...graph.files.values()].sort((a, b) => a.path.localeCompare(b.path))) {
    const byFolder = new Map<string, string[]>();
    const push = (key: string, value: string): void => {
      const list = byFolder.get(key) ?? [];
      if (!list.includes(value)) list.push(value);
      byFolder.set(key, list);
    };
    for (const e of f.edges) push(topFolder(e.to), e.to);
    for (const p of f.packages) push(`package:${packageName(p.specifier)}`, p.specifier);
    out.set(f.path, byFolder);
  }
  return out;
}

/** `@scope/x/y` -> `@scope/x`, `ajv/dist/standalone` -> `ajv`, `node:fs` and `bun:ffi` as they are. */
export function packageName(specifier: string): string {
  if (/^[a-z]+:/.test(specifier)) return specifier;
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier);
}

export interface Violation {
  readonly file: string;
  readonly message: string;
}

export interface LayoutCheck {
  /** Rule (a): a shipped file imports something that is not product code. */
  readonly shippedImportsNonProduct: readonly Violation[];
  /** Rule (b): a product file that bin/weft.ts does not reach. */
  readonly unreachableProduct: readonly Violation[];
}

export function checkLayout(graph: Graph, reachable: ReadonlySet<string> = reachableFrom(graph)): LayoutCheck {
  const shippedImportsNonProduct: Violation[] = [];
  const unreachableProduct: Violation[] = [];
  for (const f of [...graph.files.values()].sort((a, b) => a.path.localeCompare(b.path))) {
    if (reachable.has(f.path)) {
      for (const e of f.edges) {
        const kind = fileKind(e.to);
        if (kind === "product") continue;
        const what = kind === "tooling" ? "tooling" : "test support";
        shippedImportsNonProduct.push({
          file: f.path,
          message:
            `${f.path}:${e.line} is shipped (reachable from ${ENTRY}) but imports ${what} ${e.to}: ` +
            `move the code it needs into a product module, or stop importing it from shipped code`,
        });
      }
    } else if (fileKind(f.path) === "product") {
      const importers = importersOf(graph, f.path);
      const hint = importers.length === 0 ? "nothing imports it" : `imported only by ${importers.join(", ")}`;
      unreachableProduct.push({
        file: f.path,
        message:
          `${f.path} (${f.lines} lines) is in product folder ${topFolder(f.path)}/ but ${ENTRY} never reaches it ` +
          `(${hint}): if it is a fake or a driver, move it to the package's testing/ folder; if it is product ` +
          `code, give it a caller in shipped code or delete it (and its tests)`,
      });
    }
  }
  return { shippedImportsNonProduct, unreachableProduct };
}

/**
 * Which product folders each product folder may import (layers point down): bin/ wires everything,
 * plugins/ and daemon/ sit on libcni/, linux/ and net/, and net/ imports nothing of ours.
 */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  bin: ["plugins", "daemon", "libcni", "linux", "net"],
  plugins: ["libcni", "linux", "net"],
  daemon: ["libcni", "linux", "net"],
  libcni: ["net"],
  linux: ["net"],
  net: [],
};

/** Imports between product folders that the layers do not allow (type-only imports included). */
export function layerViolations(graph: Graph): Violation[] {
  const out: Violation[] = [];
  for (const f of [...graph.files.values()].sort((a, b) => a.path.localeCompare(b.path))) {
    if (fileKind(f.path) !== "product") continue;
    const from = topFolder(f.path);
    for (const e of f.edges) {
      if (fileKind(e.to) !== "product") continue;
      const to = topFolder(e.to);
      if (to === from || (LAYERS[from] ?? []).includes(to)) continue;
      out.push({
        file: f.path,
        message:
          `${f.path}:${e.line} imports ${e.to}, but ${from}/ may import only ` +
          `${(LAYERS[from] ?? []).map((l) => `${l}/`).join(", ") || "nothing of ours"}: move the shared code down ` +
          `(net/ for addresses and subnet.env, libcni/ for the protocol) or pass it in from bin/`,
      });
    }
  }
  return out;
}

/**
 * The files evaluated when `entry` is loaded, before any dynamic import runs: its static runtime
 * imports, transitively (type-only imports load nothing).
 */
export function loadedWith(graph: Graph, entry: string): Set<string> {
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length > 0) {
    const path = stack.pop();
    if (path === undefined || seen.has(path)) continue;
    seen.add(path);
    for (const e of graph.files.get(path)?.edges ?? []) {
      const runtime = !e.typeOnly && (e.kind === "import" || e.kind === "export" || e.kind === "require");
      if (runtime && !seen.has(e.to)) stack.push(e.to);
    }
  }
  return seen;
}

export interface FolderCount {
  readonly files: number;
  readonly lines: number;
}

export interface FolderLines {
  readonly folder: string;
  /** Product files bin/weft.ts reaches. */
  readonly reachable: FolderCount;
  /** Everything else: the three kinds below. */
  readonly unreachable: FolderCount;
  readonly tests: FolderCount;
  /** Files under `testing/` folders: declared test support. */
  readonly testing: FolderCount;
  /** Unreachable code files that are neither tests nor under `testing/`: what rule (b) reports. */
  readonly stray: FolderCount;
}

const add = (c: FolderCount, lines: number): FolderCount => ({ files: c.files + 1, lines: c.lines + lines });
const ZERO: FolderCount = { files: 0, lines: 0 };

/** Line counts per product folder. */
export function productFolderLines(graph: Graph, reachable: ReadonlySet<string> = reachableFrom(graph)): FolderLines[] {
  return PRODUCT_FOLDERS.map((folder) => {
    let r = ZERO;
    let u = ZERO;
    let t = ZERO;
    let tst = ZERO;
    let s = ZERO;
    for (const f of graph.files.values()) {
      if (topFolder(f.path) !== folder) continue;
      if (reachable.has(f.path)) {
        r = add(r, f.lines);
        continue;
      }
      u = add(u, f.lines);
      if (isTest(f.path)) t = add(t, f.lines);
      else if (inTestingFolder(f.path)) tst = add(tst, f.lines);
      else s = add(s, f.lines);
    }
    return { folder, reachable: r, unreachable: u, tests: t, testing: tst, stray: s };
  }).filter((x) => x.reachable.files + x.unreachable.files > 0);
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: readonly string[]): string =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [fmt(header), fmt(widths.map((w) => "-".repeat(w))), ...rows.map(fmt)].join("\n");
}

const cell = (c: FolderCount): string => `${c.lines} (${c.files})`;

/** The report `bun scripts/layout.ts` prints. */
export function report(graph: Graph): string {
  const reachable = reachableFrom(graph);
  const folders = productFolderLines(graph, reachable);
  const sum = (pick: (f: FolderLines) => FolderCount): FolderCount =>
    folders.reduce((acc, f) => ({ files: acc.files + pick(f).files, lines: acc.lines + pick(f).lines }), ZERO);
  const columns: ((f: FolderLines) => FolderCount)[] = [
    (f) => f.reachable,
    (f) => f.unreachable,
    (f) => f.tests,
    (f) => f.testing,
    (f) => f.stray,
  ];
  const rows = folders.map((f) => [`${f.folder}/`, ...columns.map((c) => cell(c(f)))]);
  rows.push(["total", ...columns.map((c) => cell(sum(c)))]);
  const out: string[] = [];
  out.push(`Product folders, lines (files); reachable = reached from ${ENTRY}; unreachable = tests + testing/ + stray`);
  out.push(table(["folder", "reachable", "unreachable", "tests", "testing/", "stray"], rows));
  const stray = sum((f) => f.stray);
  out.push("");
  out.push(
    `Test support a reader would take for product (stray: unreachable, not a test, not under testing/): ` +
      `${stray.lines} lines in ${stray.files} files`,
  );
  const check = checkLayout(graph, reachable);
  for (const v of check.unreachableProduct) {
    const f = graph.files.get(v.file);
    const importers = importersOf(graph, v.file);
    out.push(`  ${v.file} (${f?.lines ?? 0})${importers.length > 0 ? ` <- ${importers.join(", ")}` : ""}`);
  }
  out.push("");
  const cycles = importCycles(graph);
  const cycleLines = cycles.reduce((n, c) => n + c.reduce((m, p) => m + (graph.files.get(p)?.lines ?? 0), 0), 0);
  out.push(`Import cycles (dynamic and type-only imports counted): ${cycles.length}, ${cycleLines} lines`);
  cycles.forEach((c, i) => {
    const lines = c.reduce((m, p) => m + (graph.files.get(p)?.lines ?? 0), 0);
    out.push(`  cycle ${i + 1}: ${c.length} files, ${lines} lines`);
    for (const p of c) out.push(`    ${p} (${graph.files.get(p)?.lines ?? 0})`);
  });
  out.push("");
  const violations = [...check.shippedImportsNonProduct, ...check.unreachableProduct];
  if (violations.length === 0) out.push("Layout rules: ok");
  else {
    out.push(`Layout rules: ${violations.length} violations`);
    for (const v of violations) out.push(`  - ${v.message}`);
  }
  return out.join("\n");
}

/** Repository root: the parent of scripts/. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const graph = scanRepo(REPO_ROOT);
  if (process.argv.includes("--json")) {
    const reachable = reachableFrom(graph);
    const json = {
      folders: productFolderLines(graph, reachable),
      cycles: importCycles(graph),
      violations: checkLayout(graph, reachable),
    };
    console.log(JSON.stringify(json, null, 2));
  } else {
    console.log(report(graph));
  }
  const check = checkLayout(graph);
  if (check.shippedImportsNonProduct.length + check.unreachableProduct.length > 0) process.exitCode = 1;
}
