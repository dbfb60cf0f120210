/**
 * The /healthz (liveness: always 200 "flanneld is running") and /readyz (200 "flanneld is ready"
 * once rules are installed and subnet.env written, else 503 "flanneld is not ready yet") server,
 * and /metrics (Prometheus text format) when the daemon gives a renderer.
 */
import { createServer, type Server } from "node:http";
import { CONTENT_TYPE } from "./metrics/exposition.ts";

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthz(
  host: string,
  port: number,
  isReady: () => boolean,
  metrics?: () => string,
): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
      return void res.end("flanneld is running");
    }
    if (path === "/readyz") {
      const ok = isReady();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain; charset=utf-8" });
      return void res.end(ok ? "flanneld is ready" : "flanneld is not ready yet");
    }
    if (path === "/metrics" && metrics) {
      let text: string;
      try {
        text = metrics();
      } catch (e) {
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        return void res.end(`metrics failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      res.writeHead(200, { "content-type": CONTENT_TYPE });
      return void res.end(text);
    }
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    res.end(`not found: try /healthz, /readyz${metrics ? " or /metrics" : ""}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) =>
      reject(
        new Error(`healthz server cannot listen on ${host}:${port}: ${e.message}: change --healthz-ip/--healthz-port`),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const a = server.address();
  return {
    port: typeof a === "object" && a ? a.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
