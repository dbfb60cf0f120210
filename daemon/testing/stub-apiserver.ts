/**
 * Test-only stub of the Kubernetes API server (no real API server can be installed on this
 * machine). It serves the real JSON shapes for what flanneld uses: Node GET, NodeList LIST, WATCH
 * event lines (ADDED/MODIFIED/DELETED, ERROR with a 410 Expired Status), strategic merge PATCH of
 * nodes/<name>/status (annotations merged as a map, conditions merged by `type`), and Pod GET.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

type Obj = Record<string, unknown>;

export interface StubNode {
  kind: "Node";
  apiVersion: "v1";
  metadata: {
    name: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: { podCIDR?: string; podCIDRs?: string[] };
  status: { conditions: Obj[]; addresses: { type: string; address: string }[] };
}

/** A kubeconfig whose one context reaches `server` with a bearer `token` (what flanneld and doctor read). */
export function stubKubeconfig(server: string, token: string): string {
  return (
    `apiVersion: v1\nkind: Config\nclusters:\n- name: stub\n  cluster:\n    server: ${server}\n` +
    "contexts:\n- name: stub\n  context:\n    cluster: stub\n    user: flannel\n" +
    `current-context: stub\nusers:\n- name: flannel\n  user:\n    token: ${token}\n`
  );
}

export class StubApiServer {
  private server: Server | undefined;
  private rv = 100;
  /** Watches asking for a resourceVersion below this get 410 Expired. */
  minRv = 0;
  readonly nodes = new Map<string, StubNode>();
  readonly pods = new Map<string, string>();
  private readonly history: { rv: number; type: string; node: StubNode }[] = [];
  private readonly watchers = new Set<{ res: ServerResponse; from: number }>();
  readonly requests: { method: string; url: string; contentType: string; body: string; auth: string }[] = [];
  port = 0;

  constructor(readonly token = "test-token") {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server?.listen(0, "127.0.0.1", r));
    const a = this.server.address();
    this.port = typeof a === "object" && a ? a.port : 0;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A kubeconfig for this server and its token. */
  kubeconfig(): string {
    return stubKubeconfig(this.url, this.token);
  }

  async stop(): Promise<void> {
    this.dropWatches();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** End every open watch stream (as an API server restart would). */
  dropWatches(): void {
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
  }

  /** End every open watch cleanly, as the API server does when timeoutSeconds runs out. */
  endWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  get resourceVersion(): number {
    return this.rv;
  }

  /** Create or update a node; emits ADDED or MODIFIED. */
  setNode(
    name: string,
    o: { podCIDRs?: string[]; annotations?: Record<string, string>; conditions?: Obj[] } = {},
  ): StubNode {
    const prev = this.nodes.get(name);
    const node: StubNode = structuredClone(
      prev ?? {
        kind: "Node",
        apiVersion: "v1",
        metadata: {
          name,
          uid: `uid-${name}`,
          resourceVersion: "0",
          creationTimestamp: "2026-01-01T00:00:00Z",
          labels: { "kubernetes.io/hostname": name },
        },
        spec: {},
        status: { conditions: [], addresses: [{ type: "InternalIP", address: "192.0.2.1" }] },
      },
    );
    if (o.podCIDRs) {
      node.spec.podCIDRs = o.podCIDRs;
      if (o.podCIDRs[0]) node.spec.podCIDR = o.podCIDRs[0];
    }
    if (o.annotations) node.metadata.annotations = { ...(node.metadata.annotations ?? {}), ...o.annotations };
    if (o.conditions) node.status.conditions = o.conditions;
    this.commit(node, prev ? "MODIFIED" : "ADDED");
    return node;
  }

  deleteNode(name: string): void {
    const n = this.nodes.get(name);
    if (!n) return;
    this.nodes.delete(name);
    const copy = structuredClone(n);
    copy.metadata.resourceVersion = String(++this.rv);
    this.history.push({ rv: this.rv, type: "DELETED", node: copy });
    this.broadcast("DELETED", copy);
  }

  private commit(node: StubNode, type: string): void {
    node.metadata.resourceVersion = String(++this.rv);
    this.nodes.set(node.metadata.name, node);
    this.history.push({ rv: this.rv, type, node: structuredClone(node) });
    this.broadcast(type, node);
  }

  private broadcast(type: string, node: StubNode): void {
    for (const w of this.watchers) w.res.write(`${JSON.stringify({ type, object: node })}\n`);
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(
      JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code }),
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const auth = req.headers["authorization"] ?? "";
    this.requests.push({
      method: req.method ?? "",
      url: req.url ?? "",
      contentType: String(req.headers["content-type"] ?? ""),
      body,
      auth,
    });
    if (auth !== `Bearer ${this.token}`) return this.status(res, 401, "Unauthorized", "Unauthorized");
    const url = new URL(req.url ?? "/", "http://x");
    const m = /^\/api\/v1\/nodes(?:\/([^/]+)(\/status)?)?$/.exec(url.pathname);
    const pod = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(url.pathname);
    if (pod && req.method === "GET") {
      const nodeName = this.pods.get(`${pod[1]}/${pod[2]}`);
      if (!nodeName) return this.status(res, 404, "NotFound", `pods "${pod[2]}" not found`);
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(
        JSON.stringify({
          kind: "Pod",
          apiVersion: "v1",
          metadata: { name: pod[2], namespace: pod[1] },
          spec: { nodeName },
        }),
      );
    }
    if (!m) return this.status(res, 404, "NotFound", "the server could not find the requested resource");
    const name = m[1] ? decodeURIComponent(m[1]) : undefined;
    if (!name && req.method === "GET" && url.searchParams.get("watch") === "1")
      return this.watch(res, Number(url.searchParams.get("resourceVersion") ?? "0"));
    if (!name && req.method === "GET") {
      // Paginated like the API server: `limit`, and an opaque `continue` token (here: the offset).
      const all = [...this.nodes.values()];
      const limit = Number(url.searchParams.get("limit") ?? "0") || all.length;
      const from = Number(url.searchParams.get("continue") ?? "0");
      const page = all.slice(from, from + limit);
      const more = from + limit < all.length;
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(
        JSON.stringify({
          kind: "NodeList",
          apiVersion: "v1",
          metadata: { resourceVersion: String(this.rv), ...(more ? { continue: String(from + limit) } : {}) },
          items: page,
        }),
      );
    }
    const node = name ? this.nodes.get(name) : undefined;
    if (!node) return this.status(res, 404, "NotFound", `nodes "${name}" not found`);
    if (req.method === "GET" && !m[2]) {
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(JSON.stringify(node));
    }
    if (req.method === "PATCH" && m[2]) {
      if (req.headers["content-type"] !== "application/strategic-merge-patch+json")
        return this.status(res, 415, "UnsupportedMediaType", "unsupported patch type");
      const patch = JSON.parse(body) as {
        metadata?: { annotations?: Record<string, string> };
        status?: { conditions?: Obj[] };
      };
      const next = structuredClone(node);
      if (patch.metadata?.annotations)
        next.metadata.annotations = { ...(next.metadata.annotations ?? {}), ...patch.metadata.annotations };
      for (const c of patch.status?.conditions ?? []) {
        const i = next.status.conditions.findIndex((x) => x["type"] === c["type"]);
        if (i >= 0) next.status.conditions[i] = { ...next.status.conditions[i], ...c };
        else next.status.conditions.push(c);
      }
      this.commit(next, "MODIFIED");
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(JSON.stringify(next));
    }
    return this.status(res, 405, "MethodNotAllowed", "method not allowed");
  }

  private watch(res: ServerResponse, from: number): void {
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    if (from < this.minRv) {
      const st = {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: `too old resource version: ${from} (${this.minRv})`,
        reason: "Expired",
        code: 410,
      };
      res.end(`${JSON.stringify({ type: "ERROR", object: st })}\n`);
      return;
    }
    for (const h of this.history) if (h.rv > from) res.write(`${JSON.stringify({ type: h.type, object: h.node })}\n`);
    const w = { res, from };
    this.watchers.add(w);
    res.on("close", () => this.watchers.delete(w));
  }
}
