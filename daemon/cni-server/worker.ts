/**
 * The socket side of flanneld's CNI server, on its own thread (a Bun Worker): it accepts
 * connections on the unix socket, checks the peer is root, reads request frames with the pod netns
 * fd (SCM_RIGHTS, which Bun's own sockets cannot receive), and writes the answers. The calls run on
 * the daemon's main thread (server.ts); this thread only moves bytes. It blocks in poll(2), and the
 * main thread wakes it through a pipe when it has posted something.
 *
 * Messages, main -> worker: start, offer, refuse, result, stop. worker -> main: listening, failed,
 * request, go, gone, dropped, stopped.
 */
import { unlinkSync } from "node:fs";
import { SyscallError } from "../../linux/errors.ts";
import { Errno } from "../../linux/errno.ts";
import * as libc from "../../linux/ffi/libc.ts";
import {
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  acceptNonblocking,
  listenUnix,
  peerCredentials,
  pollFds,
  recvWithFds,
  revents,
  sendWithFd,
} from "../../linux/unix-socket.ts";
import {
  GO,
  HEADER_BYTES,
  OFFER,
  RelayProtocolError,
  decodeRequest,
  encodeRefusal,
  encodeResult,
  requestLength,
  type RelayRequest,
  type RelayResult,
} from "../../libcni/relay/protocol.ts";

export interface WorkerConfig {
  readonly socketPath: string;
  /** Read end of the pipe the main thread writes a byte to after each message it posts. */
  readonly wakeFd: number;
  readonly maxRequestBytes: number;
  /** A client that has not sent its whole request within this is dropped. */
  readonly readDeadlineMs: number;
  /** A client that got OFFER must say GO within this. */
  readonly goDeadlineMs: number;
  readonly backlog: number;
}

export type ToWorker =
  | { readonly type: "start"; readonly config: WorkerConfig }
  | { readonly type: "offer"; readonly id: number }
  | { readonly type: "refuse"; readonly id: number; readonly reason: string }
  | { readonly type: "result"; readonly id: number; readonly result: RelayResult }
  | { readonly type: "stop" };

export type FromWorker =
  | { readonly type: "listening" }
  | { readonly type: "failed"; readonly message: string }
  | { readonly type: "request"; readonly id: number; readonly request: RelayRequest; readonly netnsFd?: number }
  | { readonly type: "go"; readonly id: number }
  | { readonly type: "gone"; readonly id: number }
  | { readonly type: "dropped"; readonly reason: string }
  | { readonly type: "stopped" };

type Phase = "reading" | "deciding" | "offered" | "running" | "writing";

interface Conn {
  readonly id: number;
  readonly fd: number;
  phase: Phase;
  chunks: Uint8Array[];
  have: number;
  need: number;
  fds: number[];
  deadline: number;
  out: Uint8Array | undefined;
  closeAfterWrite: boolean;
}

declare const self: Worker;

const inbox: ToWorker[] = [];
let started = false;
self.onmessage = (e: MessageEvent<ToWorker>) => {
  if (e.data.type !== "start") {
    inbox.push(e.data);
    return;
  }
  if (started) return;
  started = true;
  void serve(e.data.config).catch((err: unknown) => {
    post({ type: "failed", message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  });
};

const post = (m: FromWorker): void => self.postMessage(m);

let nextId = 1;
const conns = new Map<number, Conn>();

function closeConn(c: Conn): void {
  conns.delete(c.id);
  for (const fd of c.fds) safeClose(fd);
  c.fds = [];
  safeClose(c.fd);
}

function safeClose(fd: number): void {
  try {
    libc.close(fd);
  } catch {
    // already closed
  }
}

/** Write what is pending on `c` without blocking; close once all is out when asked to. */
function flush(c: Conn): void {
  while (c.out && c.out.byteLength > 0) {
    let n: number;
    try {
      n = sendWithFd(c.fd, c.out);
    } catch (e) {
      if (e instanceof SyscallError && e.errno === Errno.EAGAIN) return;
      closeConn(c);
      return;
    }
    c.out = c.out.subarray(n);
  }
  c.out = undefined;
  if (c.closeAfterWrite) closeConn(c);
}

function send(c: Conn, bytes: Uint8Array, closeAfter: boolean, phase: Phase): void {
  c.out = c.out ? concat([c.out, bytes]) : bytes;
  c.closeAfterWrite = closeAfter;
  c.phase = phase;
  flush(c);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.byteLength;
  const out = new Uint8Array(len);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function refuse(c: Conn, reason: string): void {
  post({ type: "dropped", reason });
  send(c, encodeRefusal(reason), true, "writing");
}

function accept(listenFd: number, cfg: WorkerConfig): void {
  for (;;) {
    const fd = acceptNonblocking(listenFd);
    if (fd === undefined) return;
    const c: Conn = {
      id: nextId++,
      fd,
      phase: "reading",
      chunks: [],
      have: 0,
      need: HEADER_BYTES,
      fds: [],
      deadline: performance.now() + cfg.readDeadlineMs,
      out: undefined,
      closeAfterWrite: false,
    };
    conns.set(c.id, c);
    let uid: number;
    try {
      uid = peerCredentials(fd).uid;
    } catch (e) {
      closeConn(c);
      post({ type: "dropped", reason: `no peer credentials: ${String(e)}` });
      continue;
    }
    if (uid !== 0) refuse(c, `only root may call flanneld's CNI server (peer uid ${uid})`);
  }
}

const readBuf = new Uint8Array(64 * 1024);

function onReadable(c: Conn, cfg: WorkerConfig): void {
  for (;;) {
    let got: { n: number; fds: number[] };
    try {
      got = recvWithFds(c.fd, readBuf);
    } catch (e) {
      if (e instanceof SyscallError && e.errno === Errno.EAGAIN) return;
      gone(c);
      return;
    }
    c.fds.push(...got.fds);
    if (got.n === 0) {
      gone(c);
      return;
    }
    const bytes = readBuf.slice(0, got.n);
    if (c.phase === "offered") {
      if (bytes[0] !== GO) {
        refuse(c, "expected GO after OFFER");
        post({ type: "gone", id: c.id });
        return;
      }
      c.phase = "running";
      post({ type: "go", id: c.id });
      continue;
    }
    if (c.phase !== "reading") continue; // nothing more is expected from the client
    c.chunks.push(bytes);
    c.have += bytes.byteLength;
    try {
      if (c.need === HEADER_BYTES && c.have >= HEADER_BYTES)
        c.need = requestLength(concat(c.chunks), cfg.maxRequestBytes);
      if (c.have > c.need) throw new RelayProtocolError(`${c.have - c.need} bytes after the request`);
      if (c.have < c.need) continue;
      const request = decodeRequest(concat(c.chunks), cfg.maxRequestBytes);
      if (request.hasNetnsFd !== c.fds.length > 0 || c.fds.length > 1) {
        throw new RelayProtocolError(
          `request says ${request.hasNetnsFd ? "one" : "no"} netns fd, ${c.fds.length} came`,
        );
      }
      c.chunks = [];
      c.phase = "deciding";
      const netnsFd = c.fds.pop();
      post({ type: "request", id: c.id, request, ...(netnsFd === undefined ? {} : { netnsFd }) });
    } catch (e) {
      refuse(c, e instanceof RelayProtocolError ? `malformed request: ${e.message}` : String(e));
      return;
    }
  }
}

/** The client hung up (or the connection broke). */
function gone(c: Conn): void {
  if (c.phase === "offered" || c.phase === "deciding") post({ type: "gone", id: c.id });
  closeConn(c);
}

function handle(m: ToWorker, cfg: WorkerConfig): boolean {
  if (m.type === "stop") return false;
  if (m.type === "start") return true;
  const c = conns.get(m.id);
  if (!c) return true;
  if (m.type === "offer") {
    c.deadline = performance.now() + cfg.goDeadlineMs;
    send(c, Uint8Array.of(OFFER), false, "offered");
  } else if (m.type === "refuse") {
    send(c, encodeRefusal(m.reason), true, "writing");
  } else {
    send(c, encodeResult(m.result), true, "writing");
  }
  return true;
}

const wakeBuf = new Uint8Array(256);

async function serve(cfg: WorkerConfig): Promise<void> {
  let listenFd: number;
  try {
    listenFd = listenUnix(cfg.socketPath, { mode: 0o600, backlog: cfg.backlog });
  } catch (e) {
    post({ type: "failed", message: e instanceof Error ? e.message : String(e) });
    return;
  }
  post({ type: "listening" });
  let expected = 0;
  let running = true;
  while (running) {
    const entries = [
      { fd: cfg.wakeFd, events: POLLIN },
      { fd: listenFd, events: POLLIN },
    ];
    const order: Conn[] = [];
    let wait = -1;
    const now = performance.now();
    for (const c of conns.values()) {
      const events = c.out
        ? POLLOUT
        : c.phase === "reading" || c.phase === "offered" || c.phase === "deciding"
          ? POLLIN
          : 0;
      entries.push({ fd: c.fd, events });
      order.push(c);
      if (c.phase === "reading" || c.phase === "offered") {
        const left = Math.max(0, Math.ceil(c.deadline - now));
        wait = wait < 0 ? left : Math.min(wait, left);
      }
    }
    const fds = pollFds(entries);
    libc.poll(fds, entries.length, wait);
    if (revents(fds, 0) & POLLIN) {
      for (;;) {
        let n = 0;
        try {
          n = libc.read(cfg.wakeFd, wakeBuf);
        } catch (e) {
          if (e instanceof SyscallError && e.errno === Errno.EAGAIN) break;
          throw e;
        }
        if (n <= 0) break;
        expected += n;
      }
      // the messages were posted before their wake bytes were written: one turn of this thread's
      // event loop delivers them
      while (inbox.length < expected) await new Promise((r) => setTimeout(r, 0));
      const batch = inbox.splice(0, expected);
      expected = 0;
      for (const m of batch) if (!handle(m, cfg)) running = false;
    }
    if (revents(fds, 1) & POLLIN) accept(listenFd, cfg);
    order.forEach((c, i) => {
      if (!conns.has(c.id)) return;
      const r = revents(fds, i + 2);
      if (r & POLLOUT) flush(c);
      else if (r & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) onReadable(c, cfg);
    });
    const later = performance.now();
    for (const c of [...conns.values()]) {
      if ((c.phase === "reading" || c.phase === "offered") && later >= c.deadline) {
        const what = c.phase === "reading" ? "no complete request" : "no GO after OFFER";
        if (c.phase === "offered") post({ type: "gone", id: c.id });
        post({ type: "dropped", reason: `${what} within the deadline` });
        closeConn(c);
      }
    }
  }
  for (const c of [...conns.values()]) closeConn(c);
  safeClose(listenFd);
  try {
    unlinkSync(cfg.socketPath);
  } catch {
    // already gone
  }
  safeClose(cfg.wakeFd);
  post({ type: "stopped" });
}
