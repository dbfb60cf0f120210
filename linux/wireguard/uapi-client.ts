/**
 * A client of a userspace WireGuard implementation's UAPI socket: one connection per operation
 * (an implementation stops reading a connection after a failed set), the request written, the
 * answer read up to its `errno=` line. node:net only, so it runs under Bun and Node alike.
 */
import { createConnection } from "node:net";
import type { WgControl, WgDeviceConfig, WgDeviceState } from "./types.ts";
import { answerErrno, decodeGet, encodeSet, GET_REQUEST, UapiError } from "./uapi.ts";

/** Give up on an answer after this long. */
const UAPI_TIMEOUT_MS = 5000;

/** Send `request` to the socket at `path` and return the complete answer text. */
export function uapiExchange(path: string, request: string, timeoutMs = UAPI_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let got = "";
    let done = false;
    const finish = (err: Error | undefined, text?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(text ?? "");
    };
    const timer = setTimeout(() => finish(new Error(`no answer on ${path} within ${timeoutMs} ms`)), timeoutMs);
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(request));
    sock.on("data", (chunk: string) => {
      got += chunk;
      if (answerErrno(got) !== undefined) finish(undefined, got);
    });
    sock.on("error", (e: NodeJS.ErrnoException) => {
      const why =
        e.code === "ENOENT" || e.code === "ECONNREFUSED" ? "no WireGuard implementation is listening there" : e.message;
      finish(new Error(`UAPI socket ${path}: ${why} (${e.code ?? "error"})`));
    });
    sock.on("end", () =>
      finish(
        new Error(`UAPI socket ${path} closed before a complete answer (got ${JSON.stringify(got.slice(0, 80))})`),
      ),
    );
  });
}

/** Set operation; a non-zero errno throws UapiError. */
export async function uapiSet(path: string, cfg: WgDeviceConfig): Promise<void> {
  const answer = await uapiExchange(path, encodeSet(cfg));
  const errno = answerErrno(answer) ?? -1;
  if (errno !== 0) throw new UapiError(`set=1 on ${path}`, errno);
}

export async function uapiGet(path: string): Promise<WgDeviceState> {
  return decodeGet(await uapiExchange(path, GET_REQUEST));
}

/** WgControl over the UAPI socket at `path`. */
export function uapiControl(path: string): WgControl {
  return { configure: (cfg) => uapiSet(path, cfg), read: () => uapiGet(path) };
}
