/**
 * HTTP(S) transport to etcd's gRPC-gateway (`POST /v3/...` with JSON bodies), over a list of
 * endpoints: a connection failure or an "unavailable" answer moves to the next endpoint, and the
 * endpoint that worked stays current. Unary calls return the parsed JSON; streams (watch,
 * keepalive) deliver one parsed JSON object per line.
 */
import * as http from "node:http";
import * as https from "node:https";
import { readFileSync } from "node:fs";
import { forEachLine } from "../lines.ts";

/** TLS files, as given by --etcd-keyfile/--etcd-certfile/--etcd-cafile. */
export interface EtcdTls {
  readonly keyFile?: string;
  readonly certFile?: string;
  readonly caFile?: string;
}

export interface TransportOptions {
  readonly endpoints: readonly string[];
  readonly tls?: EtcdTls;
  /** Per unary request. @default 5000 */
  readonly timeoutMs?: number;
}

/** gRPC status codes etcd uses in gateway errors. */
export const GrpcCode = {
  NotFound: 5,
  FailedPrecondition: 9,
  OutOfRange: 11,
  Unavailable: 14,
  Unauthenticated: 16,
  InvalidArgument: 3,
  PermissionDenied: 7,
} as const;

/** An error answer from etcd (`{"error","message","code"}`), or no endpoint reachable. */
export class EtcdError extends Error {
  override readonly name = "EtcdError";
  constructor(
    message: string,
    /** gRPC code from the gateway; 14 (unavailable) when no endpoint answered. */
    readonly code: number,
    readonly httpStatus = 0,
  ) {
    super(message);
  }
}

const CONNECT_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNABORTED",
  "ETIMEOUT",
]);

function isConnectError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && CONNECT_ERRORS.has(code);
}

/** TLS failures get a hint about the flags to check; other errors pass through. */
function explainTls(e: unknown, origin: string): unknown {
  const msg = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ").trim();
  const code = String((e as { code?: unknown } | null)?.code ?? "");
  if (!/SSL|TLS|CERT/i.test(code) && !/SSL|certificate|TLS/i.test(msg)) return e;
  return new EtcdError(
    `TLS with ${origin} failed: ${msg}: check --etcd-cafile, --etcd-certfile and --etcd-keyfile`,
    GrpcCode.Unauthenticated,
  );
}

function errorFromBody(status: number, text: string): EtcdError {
  try {
    const o = JSON.parse(text) as { error?: unknown; message?: unknown; code?: unknown };
    const msg = typeof o.message === "string" ? o.message : typeof o.error === "string" ? o.error : text;
    return new EtcdError(msg, typeof o.code === "number" ? o.code : 2, status);
  } catch {
    return new EtcdError(`HTTP ${status}: ${text.slice(0, 200)}`, status === 404 ? 12 : 2, status);
  }
}

export class EtcdTransport {
  private readonly urls: URL[];
  private current = 0;
  private readonly timeoutMs: number;
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent: https.Agent;
  /** Set by the client after /v3/auth/authenticate. */
  token: string | undefined;

  constructor(opts: TransportOptions) {
    if (opts.endpoints.length === 0)
      throw new EtcdError("no etcd endpoints: set --etcd-endpoints", GrpcCode.InvalidArgument);
    this.urls = opts.endpoints.map((e) => {
      try {
        return new URL(e);
      } catch {
        throw new EtcdError(
          `--etcd-endpoints entry ${JSON.stringify(e)} is not a URL: write it like http://127.0.0.1:2379`,
          GrpcCode.InvalidArgument,
        );
      }
    });
    this.timeoutMs = opts.timeoutMs ?? 5000;
    const t = opts.tls ?? {};
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      minVersion: "TLSv1.2",
      ...(t.caFile ? { ca: readFileSync(t.caFile) } : {}),
      ...(t.certFile && t.keyFile ? { cert: readFileSync(t.certFile), key: readFileSync(t.keyFile) } : {}),
    });
  }

  /** The endpoint requests go to now. */
  get endpoint(): string {
    return (this.urls[this.current] as URL).origin;
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private open(
    url: URL,
    path: string,
    body: string,
    signal: AbortSignal | undefined,
    extra: Readonly<Record<string, string>> = {},
  ): http.ClientRequest {
    const isHttps = url.protocol === "https:";
    const headers: Record<string, string> = {
      ...extra,
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(body)),
    };
    if (this.token) headers["authorization"] = this.token;
    const opts: http.RequestOptions = {
      method: "POST",
      hostname: url.hostname.replace(/^\[|\]$/g, ""),
      port: url.port || (isHttps ? 443 : 80),
      path: `${url.pathname.replace(/\/$/, "")}${path}`,
      headers,
      agent: isHttps ? this.httpsAgent : this.httpAgent,
      ...(signal ? { signal } : {}),
    };
    return isHttps ? https.request(opts) : http.request(opts);
  }

  /** Try each endpoint starting at the current one; `attempt` rejects with connect errors to fail over. */
  private async failover<T>(what: string, attempt: (url: URL) => Promise<T>): Promise<T> {
    const errors: string[] = [];
    for (let i = 0; i < this.urls.length; i++) {
      const idx = (this.current + i) % this.urls.length;
      const url = this.urls[idx] as URL;
      try {
        const r = await attempt(url);
        this.current = idx;
        return r;
      } catch (err) {
        const e = explainTls(err, url.origin);
        const retryable =
          isConnectError(e) ||
          (e instanceof EtcdError && e.code === GrpcCode.Unavailable) ||
          (e as Error).name === "TimeoutError";
        if (!retryable) throw e;
        errors.push(`${url.origin}: ${(e as Error).message}`);
      }
    }
    throw new EtcdError(
      `${what}: no etcd endpoint answered (${errors.join("; ")}): check --etcd-endpoints and that etcd is running`,
      GrpcCode.Unavailable,
    );
  }

  /** One unary call; returns the parsed JSON object. */
  async call(path: string, body: unknown, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const payload = JSON.stringify(body);
    return this.failover(path, (url) => this.unary(url, path, payload, signal));
  }

  private unary(
    url: URL,
    path: string,
    payload: string,
    signal: AbortSignal | undefined,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const req = this.open(url, path, payload, signal);
      req.setTimeout(this.timeoutMs, () => {
        const e = new Error(`no answer within ${this.timeoutMs} ms`);
        (e as { code?: string }).code = "ETIMEDOUT";
        req.destroy(e);
      });
      req.on("error", reject);
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode !== 200) return reject(errorFromBody(res.statusCode ?? 0, text));
          try {
            resolve(JSON.parse(text) as Record<string, unknown>);
          } catch {
            reject(new EtcdError(`${path}: answer is not JSON: ${text.slice(0, 200)}`, 2, 200));
          }
        });
      });
      req.end(payload);
    });
  }

  /**
   * A streaming call: resolves once the stream is open (after failover), then calls `onLine` for
   * every JSON line until the server ends the stream, the connection breaks or `signal` aborts;
   * `done` settles then (rejecting on a broken connection, resolving on abort or clean end).
   */
  async stream(
    path: string,
    body: unknown,
    onLine: (o: Record<string, unknown>) => void,
    opts: { readonly signal: AbortSignal; readonly headers?: Readonly<Record<string, string>> },
  ): Promise<{ done: Promise<void> }> {
    const payload = JSON.stringify(body);
    return this.failover(path, (url) => this.openStream(url, path, payload, onLine, opts));
  }

  private openStream(
    url: URL,
    path: string,
    payload: string,
    onLine: (o: Record<string, unknown>) => void,
    opts: { readonly signal: AbortSignal; readonly headers?: Readonly<Record<string, string>> },
  ): Promise<{ done: Promise<void> }> {
    const signal = opts.signal;
    return new Promise((resolveOpen, rejectOpen) => {
      const req = this.open(url, path, payload, signal, opts.headers);
      let opened = false;
      req.setTimeout(this.timeoutMs, () => {
        if (opened) return;
        const e = new Error(`stream not opened within ${this.timeoutMs} ms`);
        (e as { code?: string }).code = "ETIMEDOUT";
        req.destroy(e);
      });
      req.on("error", (e) => {
        if (!opened) rejectOpen(e);
      });
      req.on("response", (res) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => rejectOpen(errorFromBody(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8"))));
          return;
        }
        opened = true;
        req.setTimeout(0);
        const done = new Promise<void>((resolve, reject) => {
          let failure: Error | undefined;
          forEachLine(res, (line) => {
            try {
              onLine(JSON.parse(line) as Record<string, unknown>);
              return true;
            } catch (e) {
              failure = e instanceof Error ? e : new Error(String(e));
              req.destroy(failure);
              return false;
            }
          });
          res.on("end", () => resolve());
          res.on("error", (e) => (signal.aborted ? resolve() : reject(failure ?? e)));
          res.on("close", () =>
            signal.aborted
              ? resolve()
              : reject(failure ?? new EtcdError(`${path}: stream to ${url.origin} closed`, GrpcCode.Unavailable)),
          );
        });
        resolveOpen({ done });
      });
      req.end(payload);
    });
  }
}
