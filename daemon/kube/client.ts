/**
 * A minimal Kubernetes API client over node:http/node:https for what flanneld needs: node GET,
 * LIST, WATCH (JSON lines; 410 Gone surfaces as {@link KubeApiError} status 410), strategic merge
 * PATCH of node status, and pod GET (to find the node from POD_NAME/POD_NAMESPACE).
 */
import * as http from "node:http";
import * as https from "node:https";
import { readFileSync } from "node:fs";
import type { KubeConnection } from "./connection.ts";
import { forEachLine } from "../lines.ts";

export interface KubeNode {
  readonly name: string;
  readonly resourceVersion: string;
  readonly annotations: Readonly<Record<string, string>>;
  /** spec.podCIDRs, or [spec.podCIDR] on old clusters. */
  readonly podCIDRs: readonly string[];
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK";

/** An error answer of the API server (`Status` object) or a transport failure (status 0). */
export class KubeApiError extends Error {
  override readonly name = "KubeApiError";
  constructor(
    message: string,
    readonly status: number,
    readonly reason = "",
  ) {
    super(message);
  }
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : {});

export function toNode(v: unknown): KubeNode {
  const meta = obj(obj(v)["metadata"]);
  const spec = obj(obj(v)["spec"]);
  const ann = obj(meta["annotations"]);
  const annotations: Record<string, string> = {};
  for (const [k, val] of Object.entries(ann)) if (typeof val === "string") annotations[k] = val;
  const list = Array.isArray(spec["podCIDRs"])
    ? spec["podCIDRs"].filter((x): x is string => typeof x === "string")
    : [];
  const single = typeof spec["podCIDR"] === "string" && spec["podCIDR"] !== "" ? [spec["podCIDR"]] : [];
  return {
    name: typeof meta["name"] === "string" ? meta["name"] : "",
    resourceVersion: typeof meta["resourceVersion"] === "string" ? meta["resourceVersion"] : "",
    annotations,
    podCIDRs: list.length > 0 ? list : single,
  };
}

function statusError(status: number, text: string, what: string): KubeApiError {
  let message = text.slice(0, 300);
  let reason = "";
  try {
    const o = obj(JSON.parse(text));
    if (typeof o["message"] === "string") message = o["message"];
    if (typeof o["reason"] === "string") reason = o["reason"];
  } catch {
    // not a Status object
  }
  const hint =
    status === 401
      ? " (check the token or client certificate)"
      : status === 403
        ? " (check flannel's RBAC: nodes get/list/watch, nodes/status patch)"
        : "";
  return new KubeApiError(`${what}: HTTP ${status}: ${message}${hint}`, status, reason);
}

/** Optional behaviour of {@link KubeClient}. */
export interface KubeClientHooks {
  /**
   * Called between the pages of a node LIST, once a page is decoded. flanneld runs a full garbage
   * collection here: the parsed page is garbage by then, and without a collection the engine keeps
   * every page until the end, so the peak of anonymous memory grows with the cluster.
   */
  readonly betweenPages?: () => void;
}

/** Nodes per LIST request of {@link KubeClient.listNodes}. */
export const NODE_PAGE = 100;

export class KubeClient {
  private readonly url: URL;
  private readonly agent: http.Agent;

  constructor(
    readonly conn: KubeConnection,
    private readonly timeoutMs = 30_000,
    private readonly hooks: KubeClientHooks = {},
  ) {
    this.url = new URL(conn.server);
    this.agent =
      this.url.protocol === "https:"
        ? new https.Agent({
            keepAlive: true,
            ...(conn.ca ? { ca: conn.ca } : {}),
            ...(conn.cert && conn.key ? { cert: conn.cert, key: conn.key } : {}),
            ...(conn.insecureSkipTlsVerify ? { rejectUnauthorized: false } : {}),
          })
        : new http.Agent({ keepAlive: true });
  }

  close(): void {
    this.agent.destroy();
  }

  private headers(contentType?: string): Record<string, string> {
    const h: Record<string, string> = { accept: "application/json", "user-agent": "weft-flanneld" };
    if (contentType) h["content-type"] = contentType;
    const token = this.conn.tokenFile ? readFileSync(this.conn.tokenFile, "utf8").trim() : this.conn.token;
    if (token) h["authorization"] = `Bearer ${token}`;
    else if (this.conn.username)
      h["authorization"] =
        `Basic ${Buffer.from(`${this.conn.username}:${this.conn.password ?? ""}`).toString("base64")}`;
    return h;
  }

  private open(
    method: string,
    path: string,
    contentType: string | undefined,
    signal: AbortSignal | undefined,
  ): http.ClientRequest {
    const isHttps = this.url.protocol === "https:";
    const opts: http.RequestOptions = {
      method,
      hostname: this.url.hostname.replace(/^\[|\]$/g, ""),
      port: this.url.port || (isHttps ? 443 : 80),
      path: `${this.url.pathname.replace(/\/$/, "")}${path}`,
      headers: this.headers(contentType),
      agent: this.agent,
      ...(signal ? { signal } : {}),
    };
    return isHttps ? https.request(opts) : http.request(opts);
  }

  /** One request; returns the parsed JSON body or throws KubeApiError. */
  request(
    method: string,
    path: string,
    opts: { body?: unknown; contentType?: string; signal?: AbortSignal } = {},
  ): Promise<unknown> {
    const what = `${method} ${path}`;
    return new Promise((resolve, reject) => {
      let req: http.ClientRequest;
      try {
        req = this.open(
          method,
          path,
          opts.body === undefined ? undefined : (opts.contentType ?? "application/json"),
          opts.signal,
        );
      } catch (e) {
        return reject(new KubeApiError(`${what}: ${e instanceof Error ? e.message : String(e)}`, 0));
      }
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on("error", (e) =>
        reject(
          new KubeApiError(
            `${what} to ${this.conn.server} failed: ${e.message} (API server from ${this.conn.source})`,
            0,
          ),
        ),
      );
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) return reject(statusError(status, text, what));
          try {
            resolve(JSON.parse(text) as unknown);
          } catch {
            reject(new KubeApiError(`${what}: answer is not JSON`, status));
          }
        });
      });
      req.end(opts.body === undefined ? undefined : JSON.stringify(opts.body));
    });
  }

  async getNode(name: string, signal?: AbortSignal): Promise<KubeNode> {
    return toNode(await this.request("GET", `/api/v1/nodes/${encodeURIComponent(name)}`, signal ? { signal } : {}));
  }

  /**
   * All nodes, fetched in pages of `pageSize` (limit/continue) so a big cluster never needs one
   * huge answer in memory; only the fields flanneld uses are kept. A real Node is kilobytes of JSON
   * (status.images, managedFields) and parses into many times that in objects, so the peak memory
   * of a listing follows the page size: pages are small (NODE_PAGE).
   */
  async listNodes(signal?: AbortSignal, pageSize = NODE_PAGE): Promise<{ items: KubeNode[]; resourceVersion: string }> {
    const items: KubeNode[] = [];
    let cont = "";
    let rv = "";
    do {
      const q = `?limit=${pageSize}${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`;
      const r = obj(await this.request("GET", `/api/v1/nodes${q}`, signal ? { signal } : {}));
      if (Array.isArray(r["items"])) for (const n of r["items"]) items.push(toNode(n));
      const meta = obj(r["metadata"]);
      rv = typeof meta["resourceVersion"] === "string" ? meta["resourceVersion"] : rv;
      cont = typeof meta["continue"] === "string" ? meta["continue"] : "";
      if (cont !== "") this.hooks.betweenPages?.();
    } while (cont !== "");
    return { items, resourceVersion: rv };
  }

  /** Strategic merge patch of the node's status subresource (annotations and conditions). */
  async patchNodeStatus(name: string, patch: unknown, signal?: AbortSignal): Promise<KubeNode> {
    const r = await this.request("PATCH", `/api/v1/nodes/${encodeURIComponent(name)}/status`, {
      body: patch,
      contentType: "application/strategic-merge-patch+json",
      ...(signal ? { signal } : {}),
    });
    return toNode(r);
  }

  async getPodNodeName(namespace: string, pod: string, signal?: AbortSignal): Promise<string> {
    const r = obj(
      await this.request(
        "GET",
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}`,
        signal ? { signal } : {},
      ),
    );
    const n = obj(r["spec"])["nodeName"];
    if (typeof n !== "string" || n === "")
      throw new KubeApiError(`pod ${namespace}/${pod} has no spec.nodeName yet`, 0);
    return n;
  }

  /**
   * Watch nodes from `resourceVersion`. Resolves when the server ends the watch (normal timeout)
   * or `signal` aborts; rejects with status 410 when the version is too old (relist then).
   */
  watchNodes(
    resourceVersion: string,
    onEvent: (type: WatchEventType, node: KubeNode) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const path =
      `/api/v1/nodes?watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}&` +
      `timeoutSeconds=${300 + Math.floor(Math.random() * 300)}`;
    return new Promise((resolve, reject) => {
      const req = this.open("GET", path, undefined, signal);
      req.on("error", (e) => (signal.aborted ? resolve() : reject(new KubeApiError(`watch nodes: ${e.message}`, 0))));
      req.on("response", (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => reject(statusError(status, Buffer.concat(chunks).toString("utf8"), "watch nodes")));
          return;
        }
        forEachLine(res, (line) => {
          let ev: Obj;
          try {
            ev = obj(JSON.parse(line));
          } catch {
            req.destroy();
            reject(new KubeApiError("watch nodes: a line is not JSON", 0));
            return false;
          }
          const type = ev["type"];
          if (type === "ERROR") {
            const st = obj(ev["object"]);
            const code = typeof st["code"] === "number" ? st["code"] : 0;
            req.destroy();
            reject(
              new KubeApiError(`watch nodes: ${String(st["message"] ?? "error")}`, code, String(st["reason"] ?? "")),
            );
            return false;
          }
          if (type === "ADDED" || type === "MODIFIED" || type === "DELETED" || type === "BOOKMARK")
            onEvent(type, toNode(ev["object"]));
          return true;
        });
        res.on("end", () => resolve());
        res.on("error", (e) => (signal.aborted ? resolve() : reject(new KubeApiError(`watch nodes: ${e.message}`, 0))));
      });
      req.end();
    });
  }
}
