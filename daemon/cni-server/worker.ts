/**
 * The socket side of flanneld's CNI server, on its own thread (a Bun Worker): it accepts
 * connections on the unix socket, checks the peer is root, reads request frames with the pod netns
 * fd (SCM_RIGHTS, which Bun's own sockets cannot receive), offers to take each call and waits for
 * the client's GO. It offers only while the main thread says it accepts calls and is alive (a
 * heartbeat in shared memory, so a main thread stuck for seconds gets no new calls and the exec runs
 * them itself). The calls run on the main thread (server.ts), which writes each result straight to
 * the connection and closes it; this thread never touches a connection once it is running.
 * It blocks in poll(2); the main thread wakes it through a pipe when it has posted something.
 *
 * Messages, main -> worker: start, result (a result the main thread could not write at once),
 * closed (the main thread closed a running connection), stop. worker -> main: listening, failed,
 * call, dropped, stopped.
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
  requestLength,
  type RelayRequest,
} from "../../libcni/relay/protocol.ts";
import { HEARTBEAT_STALE_MS, SHARED, beatNow } from "./shared.ts";

export interface WorkerConfig {
  readonly socketPath: string;
  /** Read end of the pipe the main thread writes a byte to after each message it posts. */
  readonly wakeFd: number;
  readonly shared: SharedArrayBuffer;
  readonly maxRequestBytes: number;
  /** A client that has not sent its whole request within this is dropped. */
  readonly readDeadlineMs: number;
  /** A client that got OFFER must say GO within this. */
  readonly goDeadlineMs: number;
  readonly backlog: number;
}

export type ToWorker =
  | { readonly type: "start"; readonly config: WorkerConfig }
  | { readonly type: "result"; readonly id: number; readonly rest: Uint8Array }
  | { readonly type: "closed"; readonly id: number }
  | { readonly type: "stop" };

export type FromWorker =
  | { readonly type: "listening" }
  | { readonly type: "failed"; readonly message: string }
  | {
      readonly type: "call";
      readonly id: number;
      /** The connection: the main thread writes the result to it and closes it. */
      readonly fd: number;
      readonly request: RelayRequest;
      readonly netnsFd?: number;
    }
  | { readonly type: "dropped"; readonly reason: string }
  | { readonly type: "stopped" };

type Phase = "reading" | "offered" | "running" | "writing";

interface Conn {
  readonly id: number;
  readonly fd: number;
  phase: Phase;
  chunks: Uint8Array[];
  have: number;
  need: number;
  fds: number[];
  deadline: number;
  request: RelayRequest | undefined;
  out: Uint8Array | undefined;
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

/** Write what is pending on `c` without blocking; close once all is out. */
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
  if (c.phase === "writing") closeConn(c);
}

function send(c: Conn, bytes: Uint8Array, phase: Phase): void {
  c.out = c.out ? concat([c.out, bytes]) : bytes;
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
  send(c, encodeRefusal(reason), "writing");
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
      request: undefined,
      out: undefined,
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

/** Why the main thread cannot take a call now, or undefined when it can. */
function busy(shared: Int32Array): string | undefined {
  if (Atomics.load(shared, SHARED.accepting) !== 1) return "flanneld is not taking calls (starting or shutting down)";
  const age = (beatNow() - Atomics.load(shared, SHARED.heartbeat) + 0x7fffffff) % 0x7fffffff;
  if (age > HEARTBEAT_STALE_MS) return `flanneld's main thread has not answered for ${age} ms`;
  return undefined;
}

const readBuf = new Uint8Array(64 * 1024);

function onReadable(c: Conn, cfg: WorkerConfig, shared: Int32Array): void {
  for (;;) {
    let got: { n: number; fds: number[] };
    try {
      got = recvWithFds(c.fd, readBuf);
    } catch (e) {
      if (e instanceof SyscallError && e.errno === Errno.EAGAIN) return;
      closeConn(c);
      return;
    }
    c.fds.push(...got.fds);
    if (got.n === 0) {
      closeConn(c);
      return;
    }
    const bytes = readBuf.slice(0, got.n);
    if (c.phase === "offered") {
      const request = c.request;
      if (bytes[0] !== GO || got.n !== 1 || request === undefined) {
        refuse(c, "expected GO after OFFER");
        return;
      }
      // from here the call is the main thread's: this thread forgets the connection's fds
      c.phase = "running";
      const netnsFd = c.fds.pop();
      for (const fd of c.fds) safeClose(fd);
      c.fds = [];
      post({ type: "call", id: c.id, fd: c.fd, request, ...(netnsFd === undefined ? {} : { netnsFd }) });
      return;
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
      const why = busy(shared);
      if (why !== undefined) {
        refuse(c, why);
        return;
      }
      c.request = request;
      c.deadline = performance.now() + cfg.goDeadlineMs;
      send(c, Uint8Array.of(OFFER), "offered");
    } catch (e) {
      refuse(c, e instanceof RelayProtocolError ? `malformed request: ${e.message}` : String(e));
      return;
    }
  }
}

function handle(m: ToWorker): boolean {
  if (m.type === "stop") return false;
  if (m.type === "start") return true;
  const c = conns.get(m.id);
  if (!c) return true;
  if (m.type === "closed") {
    // the main thread closed the fd: its number may already be someone else's, never close it here
    conns.delete(c.id);
    return true;
  }
  send(c, m.rest, "writing");
  return true;
}

const wakeBuf = new Uint8Array(256);

async function serve(cfg: WorkerConfig): Promise<void> {
  const shared = new Int32Array(cfg.shared);
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
      if (c.phase === "running") continue;
      entries.push({ fd: c.fd, events: c.out ? POLLOUT : POLLIN });
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
      // the messages were posted before their wake bytes were written: a turn of this thread's
      // event loop delivers them
      while (inbox.length < expected) await new Promise((r) => setImmediate(r));
      const batch = inbox.splice(0, expected);
      expected = 0;
      for (const m of batch) if (!handle(m)) running = false;
    }
    if (revents(fds, 1) & POLLIN) accept(listenFd, cfg);
    order.forEach((c, i) => {
      if (!conns.has(c.id)) return;
      const r = revents(fds, i + 2);
      if (r & POLLOUT) flush(c);
      else if (r & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) onReadable(c, cfg, shared);
    });
    const later = performance.now();
    for (const c of [...conns.values()]) {
      if ((c.phase === "reading" || c.phase === "offered") && later >= c.deadline) {
        const what = c.phase === "reading" ? "no complete request" : "no GO after OFFER";
        post({ type: "dropped", reason: `${what} within the deadline` });
        closeConn(c);
      }
    }
  }
  for (const c of [...conns.values()]) if (c.phase !== "running") closeConn(c);
  safeClose(listenFd);
  try {
    unlinkSync(cfg.socketPath);
  } catch {
    // already gone
  }
  safeClose(cfg.wakeFd);
  post({ type: "stopped" });
}
