// An embedded, in-memory etcd for the demo and tests where Debian's etcd is not installed: one
// member serving the subset of etcd 3.4's v3 JSON gateway (POST /v3/...) that our EtcdClient and
// flanneld use: kv range/put/deleterange/txn/compaction, lease grant/revoke/timetolive/leases/
// keepalive (real TTL expiry deletes the keys), watch streams (start revision, prev_kv, filters,
// progress notify, compaction cancel), GET /health. Revisions, versions and error messages follow
// etcd. Not served: auth (authenticate answers "authentication is not enabled"), TLS, gRPC (so
// etcdctl cannot talk to it: use `ctl` below), persistence, more than one member.
//
// CLI: bun netns-fixtures/embedded-etcd.ts --listen 192.0.2.1:2379 [--min-ttl S] [--progress-notify-ms MS]
//      bun netns-fixtures/embedded-etcd.ts ctl --endpoints http://192.0.2.1:2379 \
//        put KEY VALUE | del [--prefix] KEY | get [--prefix] KEY
// node:http only, so it runs under Node (unit tests) and Bun (the CLI in a netns).
import { spawn, type ChildProcess } from "node:child_process";
import { realpathSync } from "node:fs";
import * as http from "node:http";
import type { Socket } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EtcdClient } from "../../daemon/etcd/client.ts";
import { bytes, eventJson, int, leaseId, Member, obj, unaryHandlers, type Json } from "./embedded-etcd-api.ts";
import { Code, inRange, MvccStore, StoreError, type StoreEvent, type StoreOptions } from "./embedded-etcd-store.ts";
import { REPO_ROOT } from "../oracles/reference.ts";
import { run, type RunResult } from "../topology/sh.ts";

export interface EmbeddedEtcdOptions extends StoreOptions {
  /** @default "127.0.0.1" */
  readonly host?: string;
  /** 0 = any free port. @default 2379 */
  readonly port?: number;
  /** Interval of progress notifications to watches that ask for them (etcd: 10 min). @default 600000 */
  readonly progressNotifyMs?: number;
}

const HTTP_STATUS: Record<number, number> = {
  [Code.InvalidArgument]: 400,
  [Code.NotFound]: 404,
  [Code.FailedPrecondition]: 412,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
};

function parseBodies(text: string): Json[] {
  if (text.trim() === "") return [{}];
  try {
    return [obj(JSON.parse(text))];
  } catch {
    // Several requests on one stream, one JSON object per line.
    return text
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => obj(JSON.parse(l)));
  }
}

export class EmbeddedEtcdServer {
  readonly store: MvccStore;
  private readonly member: Member;
  private readonly unary: Record<string, (r: Json) => Json>;
  private readonly sockets = new Set<Socket>();
  private openWatchers = 0;
  private readonly server: http.Server;
  endpoint = "";

  private constructor(private readonly o: EmbeddedEtcdOptions) {
    this.store = new MvccStore(o);
    this.member = new Member(this.store);
    this.unary = unaryHandlers(this.member);
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.once("close", () => this.sockets.delete(s));
    });
  }

  static async start(o: EmbeddedEtcdOptions = {}): Promise<EmbeddedEtcdServer> {
    const s = new EmbeddedEtcdServer(o);
    const host = o.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      s.server.once("error", reject);
      s.server.listen(o.port ?? 2379, host, () => resolve());
    });
    const addr = s.server.address();
    const port = typeof addr === "object" && addr ? addr.port : (o.port ?? 2379);
    s.endpoint = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
    return s;
  }

  /** Watchers on open streams (closed streams must not leak them). */
  get watchers(): number {
    return this.openWatchers;
  }

  async close(): Promise<void> {
    this.store.close();
    const closed = new Promise<void>((res) => this.server.close(() => res()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    // A client that goes away (an aborted watch) is no error of the server's.
    req.on("error", () => undefined);
    res.on("error", () => undefined);
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      if (req.method === "GET" && path === "/health") return this.reply(res, 200, { health: "true" });
      if (req.method === "GET" && path === "/version")
        return this.reply(res, 200, { etcdserver: "3.4.0", etcdcluster: "3.4.0", weft: "embedded" });
      let bodies: Json[];
      try {
        bodies = parseBodies(Buffer.concat(chunks).toString("utf8"));
      } catch (e) {
        return this.fail(res, new StoreError(e instanceof Error ? e.message : String(e), Code.InvalidArgument));
      }
      if (req.method !== "POST") return this.notFound(res);
      if (path === "/v3/watch") return this.watch(bodies, res);
      if (path === "/v3/lease/keepalive") return this.keepAlive(bodies, res);
      const h = this.unary[path];
      if (!h) return this.notFound(res);
      try {
        this.reply(res, 200, h(bodies[0] ?? {}));
      } catch (e) {
        this.fail(res, e);
      }
    });
  }

  private reply(res: http.ServerResponse, status: number, body: Json): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  }

  private notFound(res: http.ServerResponse): void {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("Not Found\n");
  }

  private fail(res: http.ServerResponse, e: unknown): void {
    const err = e instanceof StoreError ? e : new StoreError(e instanceof Error ? e.message : String(e), 2);
    this.reply(res, HTTP_STATUS[err.code] ?? 500, { error: err.message, message: err.message, code: err.code });
  }

  private openStream(res: http.ServerResponse): (o: Json) => void {
    res.writeHead(200, { "content-type": "application/json" });
    res.flushHeaders();
    return (o) => {
      if (!res.destroyed && !res.writableEnded) res.write(`${JSON.stringify(o)}\n`);
    };
  }

  /** Lease keep-alive: one answer per request on the stream, then the stream ends (the client closed its side). */
  private keepAlive(bodies: readonly Json[], res: http.ServerResponse): void {
    const send = this.openStream(res);
    try {
      for (const b of bodies) {
        const id = leaseId(b["ID"]);
        const ttl = this.store.keepAlive(id);
        send({ result: { header: this.member.header(), ID: id, ...(ttl > 0 ? { TTL: String(ttl) } : {}) } });
      }
    } catch (e) {
      const err = e instanceof StoreError ? e : new StoreError(String(e), 2);
      send({
        error: { grpc_code: err.code, http_code: HTTP_STATUS[err.code] ?? 500, message: err.message, http_status: "" },
      });
    }
    res.end();
  }

  /** A watch stream: every create_request becomes a watcher with its own watch_id. */
  private watch(bodies: readonly Json[], res: http.ServerResponse): void {
    const send = this.openStream(res);
    const stops: (() => void)[] = [];
    res.on("close", () => stops.splice(0).forEach((f) => f()));
    let nextId = 0;
    for (const b of bodies) {
      const c = b["create_request"];
      if (c !== undefined) stops.push(this.addWatcher(obj(c), nextId++, send));
      else if (b["progress_request"] !== undefined) send({ result: { header: this.member.header() } });
    }
  }

  private addWatcher(c: Json, watchId: number, send: (o: Json) => void): () => void {
    const key = bytes(c["key"]);
    const end = c["range_end"] === undefined ? undefined : bytes(c["range_end"]);
    const filters = Array.isArray(c["filters"]) ? c["filters"] : [];
    const prevKv = c["prev_kv"] === true;
    const id = watchId > 0 ? { watch_id: String(watchId) } : {};
    let start: number;
    try {
      start = int(c["start_revision"], "start_revision");
    } catch {
      start = 0;
    }
    const wanted = (e: StoreEvent) =>
      inRange(e.kv.key, key, end) && !filters.includes(e.type === "put" ? "NOPUT" : "NODELETE");
    const deliver = (events: readonly StoreEvent[], revision: number) => {
      const mine = events.filter(wanted);
      // Like etcd, a previous value older than the compaction revision is gone.
      const prevOk = (e: StoreEvent) => prevKv && e.kv.modRevision - 1 >= this.store.compactRevision;
      if (mine.length > 0)
        send({
          result: { header: this.member.header(revision), ...id, events: mine.map((e) => eventJson(e, prevOk(e))) },
        });
    };
    send({ result: { header: this.member.header(), ...id, created: true } });
    if (start > 0 && start < this.store.compactRevision) {
      const { revision: _r, ...header } = this.member.header();
      send({ result: { header, ...id, canceled: true, compact_revision: String(this.store.compactRevision) } });
      return () => undefined;
    }
    const from = start > 0 ? start : this.store.revision + 1;
    if (from <= this.store.revision) deliver(this.store.eventsSince(from), this.store.revision);
    const unsubscribe = this.store.subscribe((events) => {
      const rev = events[0]?.kv.modRevision ?? 0;
      if (rev >= from) deliver(events, rev);
    });
    const every = this.o.progressNotifyMs ?? 600_000;
    const timer =
      c["progress_notify"] === true
        ? setInterval(() => send({ result: { header: this.member.header(), ...id } }), every)
        : undefined;
    this.openWatchers++;
    return () => {
      this.openWatchers--;
      unsubscribe();
      if (timer) clearInterval(timer);
    };
  }
}

/** Bun to run this file with: the current runtime under Bun, the repo's bun under Node. */
export function bunPath(): string {
  return process.versions["bun"] ? process.execPath : join(REPO_ROOT, "node_modules", ".bin", "bun");
}

const THIS_FILE = fileURLToPath(import.meta.url);

/** The embedded etcd as a process (a `bun` running this file), optionally inside a netns. */
export class EmbeddedEtcd {
  private constructor(
    private readonly child: ChildProcess,
    readonly endpoint: string,
    private readonly ns: string | undefined,
    private readonly out: { text: string },
  ) {}

  /** What the process printed (its address; errors if it failed). */
  get output(): string {
    return this.out.text;
  }

  static async start(o: {
    readonly ns?: string;
    readonly host: string;
    readonly port?: number;
    readonly minTtlSeconds?: number;
  }): Promise<EmbeddedEtcd> {
    const args = [
      bunPath(),
      THIS_FILE,
      "--listen",
      `${o.host}:${o.port ?? 2379}`,
      ...(o.minTtlSeconds !== undefined ? ["--min-ttl", String(o.minTtlSeconds)] : []),
    ];
    const full = o.ns ? ["ip", "netns", "exec", o.ns, ...args] : args;
    const child = spawn(full[0] as string, full.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    const printed = { text: "" };
    child.stdout?.on("data", (d: Buffer) => (printed.text += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (printed.text += d.toString()));
    const endpoint = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => done(new Error(`embedded etcd did not start within 15 s: ${printed.text.trim()}`)),
        15_000,
      );
      const check = () => {
        const m = /listening on (\S+)/.exec(printed.text);
        if (m?.[1]) done(m[1]);
      };
      const onExit = (code: number | null) => done(new Error(`embedded etcd exited ${code}: ${printed.text.trim()}`));
      const done = (r: string | Error) => {
        clearTimeout(timer);
        child.stdout?.off("data", check);
        child.off("exit", onExit);
        if (typeof r === "string") resolve(r);
        else {
          child.kill("SIGKILL");
          reject(r);
        }
      };
      child.stdout?.on("data", check);
      child.once("exit", onExit);
    });
    return new EmbeddedEtcd(child, endpoint, o.ns, printed);
  }

  /**
   * etcdctl-like `put KEY VALUE` (prints OK), `del KEY` (prints the count), `get [--prefix] KEY`, through our
   * EtcdClient from the netns.
   */
  ctl(args: readonly string[]): Promise<RunResult> {
    const cmd = [bunPath(), THIS_FILE, "ctl", "--endpoints", this.endpoint, ...args];
    return this.ns
      ? run("ip", ["netns", "exec", this.ns, ...cmd], { allowFail: true })
      : run(cmd[0] as string, cmd.slice(1), { allowFail: true });
  }

  async put(key: string, value: string): Promise<void> {
    const r = await this.ctl(["put", key, value]);
    if (r.exitCode !== 0) throw new Error(`embedded etcd put ${key} failed: ${r.stderr.trim()}`);
  }

  /** Delete one key; returns how many were deleted. */
  async del(key: string): Promise<number> {
    const r = await this.ctl(["del", key]);
    if (r.exitCode !== 0) throw new Error(`embedded etcd del ${key} failed: ${r.stderr.trim()}`);
    return Number(r.stdout.trim());
  }

  stop(): void {
    this.child.kill("SIGKILL");
  }
}

/** etcdctl's subset the fixtures use: put KEY VALUE, del [--prefix] KEY, get [--prefix] KEY. */
async function ctlMain(argv: readonly string[]): Promise<number> {
  const i = argv.indexOf("--endpoints");
  const endpoint = i >= 0 ? argv[i + 1] : undefined;
  const rest = (i >= 0 ? [...argv.slice(0, i), ...argv.slice(i + 2)] : [...argv]).filter((a) => a !== "--prefix");
  const prefix = argv.includes("--prefix");
  const [op, key, value] = rest;
  if (!endpoint || !key || !(op === "get" || op === "del" || (op === "put" && value !== undefined))) {
    process.stderr.write(
      "usage: embedded-etcd.ts ctl --endpoints URL put KEY VALUE | del [--prefix] KEY | get [--prefix] KEY\n",
    );
    return 2;
  }
  const c = new EtcdClient({ endpoints: [endpoint] });
  try {
    if (op === "put") {
      await c.put(key, value ?? "");
      process.stdout.write("OK\n");
    } else if (op === "del") {
      process.stdout.write(`${await c.delete(key, { prefix })}\n`);
    } else {
      const kvs = prefix ? (await c.list(key)).kvs : [(await c.get(key)).kv].filter((kv) => kv !== undefined);
      process.stdout.write(kvs.map((kv) => `${kv.key}\n${kv.value}\n`).join(""));
    }
    return 0;
  } catch (e) {
    process.stderr.write(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    c.close();
  }
}

async function serveMain(argv: readonly string[]): Promise<number> {
  const flag = (n: string): string | undefined => {
    const i = argv.indexOf(`--${n}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const listen = flag("listen") ?? "127.0.0.1:2379";
  const colon = listen.lastIndexOf(":");
  const host = listen.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(listen.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port)) {
    process.stderr.write(`--listen ${JSON.stringify(listen)}: write it as HOST:PORT, e.g. 192.0.2.1:2379\n`);
    return 2;
  }
  const minTtl = flag("min-ttl");
  const progress = flag("progress-notify-ms");
  const s = await EmbeddedEtcdServer.start({
    host,
    port,
    ...(minTtl ? { minTtlSeconds: Number(minTtl) } : {}),
    ...(progress ? { progressNotifyMs: Number(progress) } : {}),
  });
  process.stdout.write(`embedded etcd listening on ${s.endpoint}\n`);
  await new Promise<void>((res) => {
    process.once("SIGTERM", res);
    process.once("SIGINT", res);
  });
  await s.close();
  return 0;
}

const isMain = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(THIS_FILE);
  } catch {
    return false;
  }
})();

if (isMain) {
  const argv = process.argv.slice(2);
  process.exitCode = await (argv[0] === "ctl" ? ctlMain(argv.slice(1)) : serveMain(argv)).catch((e: unknown) => {
    process.stderr.write(`embedded etcd: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  });
}
