/**
 * flanneld's CNI server: the flannel exec relays its call here (plugins/flannel/relay.ts) and this
 * process runs it with the same plugin code, warm. The socket I/O runs on a worker thread
 * (worker.ts); the calls run here, on the main thread, through CallRunner (ordering, GC, deadline).
 * The pod netns arrives as an fd: the plugin reaches it through NetnsAccess, never through the
 * runtime's path, which this process may not see. Imports linux/ (bun:ffi): loaded lazily by main.ts.
 */
import { fstatSync, statSync } from "node:fs";
import { dispatch, sameNetns, type NetnsAccess, type PluginIO } from "../../libcni/skel/skel.ts";
import type { DefinitionLoader } from "../../libcni/skel/definition.ts";
import { MAX_REQUEST_BYTES, encodeResult, type RelayRequest, type RelayResult } from "../../libcni/relay/protocol.ts";
import { SyscallError } from "../../linux/errors.ts";
import { Errno } from "../../linux/errno.ts";
import * as libc from "../../linux/ffi/libc.ts";
import { netnsFromFd, openNetns } from "../../linux/netns.ts";
import { sendWithFd } from "../../linux/unix-socket.ts";
import type { Logger } from "../log.ts";
import { CallRunner, type CallStats } from "./calls.ts";
import { HEARTBEAT_MS, SHARED, beatNow } from "./shared.ts";
import type { FromWorker, ToWorker, WorkerConfig } from "./worker.ts";

export interface CniServerOptions {
  readonly socketPath: string;
  /** The plugin calls are run with (flannel). */
  readonly plugin: DefinitionLoader;
  readonly log: Logger;
  /** A call running longer is answered CNI error 11 (it goes on in the background). @default 120 s */
  readonly callDeadlineMs?: number;
  /** A client must send its whole request within this. @default 5 s */
  readonly readDeadlineMs?: number;
  /** A client must confirm (GO) within this after the offer. @default 5 s */
  readonly goDeadlineMs?: number;
  readonly maxRequestBytes?: number;
  /**
   * Give memory back (a full collection, then return the free heap to the kernel). Run when the
   * server falls idle after {@link RELEASE_EVERY} calls: each call leaves short-lived garbage the
   * engine would otherwise let pile up. @default none
   */
  readonly releaseMemory?: () => void;
}

/** Calls answered between two memory releases (see CniServerOptions.releaseMemory). */
export const RELEASE_EVERY = 500;

interface Pending {
  readonly request: RelayRequest;
  readonly netnsFd: number | undefined;
  readonly env: Readonly<Record<string, string>>;
}

const encoder = new TextEncoder();

/**
 * The identity of the call's pod netns when it is the node's: the exec's own (it told us) or this
 * daemon's (compared here, by nsfs inode, so a namespace path that only the exec could resolve still counts).
 */
function ownNetns(request: RelayRequest, netnsFd: number | undefined): string | undefined {
  if (netnsFd === undefined) return request.ownNetns ? "the network namespace of the calling exec" : undefined;
  try {
    const pod = fstatSync(netnsFd);
    if (request.ownNetns) return `net:[${pod.ino}]`;
    return sameNetns(pod, statSync("/proc/thread-self/ns/net"));
  } catch {
    return request.ownNetns ? "the network namespace of the calling exec" : undefined;
  }
}

/**
 * The worker module. Run from source it sits beside this file. In the compiled binary (modules under
 * /$bunfs/root) a worker entry is named by its path from the build's root (scripts/build.ts builds
 * from the repository root with this file's worker as an entry point).
 */
function workerSpecifier(): string {
  const here = new URL("./worker.ts", import.meta.url);
  return here.pathname.startsWith("/$bunfs/") ? "./daemon/cni-server/worker.ts" : here.href;
}

export class CniServer {
  private readonly runner: CallRunner<Pending>;
  private readonly beat: ReturnType<typeof setInterval>;
  private stopped: Promise<void> | undefined;
  private sinceRelease = 0;

  private constructor(
    private readonly o: CniServerOptions,
    private readonly worker: Worker,
    private readonly wakeFd: number,
    private readonly shared: Int32Array,
  ) {
    this.runner = new CallRunner((p) => this.execute(p), o.callDeadlineMs ?? 120_000);
    Atomics.store(shared, SHARED.heartbeat, beatNow());
    this.beat = setInterval(() => Atomics.store(shared, SHARED.heartbeat, beatNow()), HEARTBEAT_MS);
  }

  /** Start serving on `o.socketPath`; rejects when the socket cannot be set up (the message says why). */
  static async start(o: CniServerOptions): Promise<CniServer> {
    const [wakeRead, wakeWrite] = libc.pipe2(libc.O_NONBLOCK | libc.O_CLOEXEC);
    const worker = new Worker(workerSpecifier());
    const sab = new SharedArrayBuffer(SHARED.slots * 4);
    const shared = new Int32Array(sab);
    const server = new CniServer(o, worker, wakeWrite, shared);
    const config: WorkerConfig = {
      socketPath: o.socketPath,
      wakeFd: wakeRead,
      shared: sab,
      maxRequestBytes: o.maxRequestBytes ?? MAX_REQUEST_BYTES,
      readDeadlineMs: o.readDeadlineMs ?? 5000,
      goDeadlineMs: o.goDeadlineMs ?? 5000,
      backlog: 512,
    };
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        const m = e.data;
        if (m.type === "listening") {
          worker.onmessage = (ev: MessageEvent<FromWorker>) => server.onWorker(ev.data);
          Atomics.store(shared, SHARED.accepting, 1);
          resolve();
        } else if (m.type === "failed") {
          clearInterval(server.beat);
          worker.terminate();
          libc.close(wakeWrite);
          reject(new Error(`CNI server on ${o.socketPath}: ${m.message}`));
        }
      };
      worker.onerror = (e) => reject(new Error(`CNI server worker: ${e.message}`));
      worker.postMessage({ type: "start", config } satisfies ToWorker);
    });
    o.log.info("serving CNI calls", { socket: o.socketPath });
    return server;
  }

  get stats(): CallStats {
    return this.runner.stats;
  }

  /** Refuse new calls, let the ones taken finish, close and remove the socket. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      Atomics.store(this.shared, SHARED.accepting, 0);
      await this.runner.drain();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        this.worker.onmessage = (e: MessageEvent<FromWorker>) => {
          if (e.data.type === "stopped") {
            clearTimeout(timer);
            resolve();
          } else {
            this.onWorker(e.data);
          }
        };
        this.send({ type: "stop" });
      });
      this.worker.terminate();
      clearInterval(this.beat);
      libc.close(this.wakeFd);
    })();
    return this.stopped;
  }

  private send(m: ToWorker): void {
    this.worker.postMessage(m);
    try {
      libc.write(this.wakeFd, Uint8Array.of(1));
    } catch (e) {
      this.o.log.warn("could not wake the CNI server thread", { error: String(e) });
    }
  }

  private onWorker(m: FromWorker): void {
    // this thread is evidently alive: a busy main thread (timers late behind calls) is not a stuck one
    Atomics.store(this.shared, SHARED.heartbeat, beatNow());
    switch (m.type) {
      case "call": {
        const p: Pending = { request: m.request, netnsFd: m.netnsFd, env: m.request.env };
        const t0 = performance.now();
        void this.runner.run(p).then((result) => {
          this.answer(m.id, m.fd, result);
          this.afterCall();
          this.o.log.debug("CNI call", {
            command: p.env["CNI_COMMAND"],
            container: p.env["CNI_CONTAINERID"],
            exit: result.exitCode,
            ms: Math.round(performance.now() - t0),
          });
        });
        return;
      }
      case "dropped":
        this.o.log.debug("CNI server dropped a connection", { reason: m.reason });
        return;
      case "failed":
        this.o.log.error("CNI server thread failed", { error: m.message });
        return;
      default:
        return;
    }
  }

  /** After RELEASE_EVERY calls, give memory back once no call is in flight. */
  private afterCall(): void {
    this.sinceRelease++;
    if (this.sinceRelease < RELEASE_EVERY || this.runner.pending > 0 || !this.o.releaseMemory) return;
    this.sinceRelease = 0;
    this.o.releaseMemory();
  }

  /**
   * Write the result on the call's connection and close it. What the socket does not take at once
   * (a result larger than its buffer) goes to the worker thread to write.
   */
  private answer(id: number, fd: number, result: RelayResult): void {
    Atomics.store(this.shared, SHARED.heartbeat, beatNow());
    let bytes = encodeResult(result);
    try {
      while (bytes.byteLength > 0) bytes = bytes.subarray(sendWithFd(fd, bytes));
    } catch (e) {
      if (e instanceof SyscallError && e.errno === Errno.EAGAIN) {
        this.send({ type: "result", id, rest: bytes });
        return;
      }
      // the client is gone (EPIPE, ECONNRESET): nothing left to tell it
    }
    libc.close(fd);
    this.send({ type: "closed", id });
  }

  /**
   * Run one call with the plugin, as the exec would have: same env, stdin, output. The netns fd is
   * closed when the call has really ended (a call past its deadline is answered earlier, and goes on).
   */
  private async execute(p: Pending): Promise<RelayResult> {
    try {
      return await this.run(p);
    } finally {
      if (p.netnsFd !== undefined) libc.close(p.netnsFd);
    }
  }

  private async run(p: Pending): Promise<RelayResult> {
    const def = await this.o.plugin();
    const { request, netnsFd } = p;
    const podPath = request.env["CNI_NETNS"] ?? "";
    const access: NetnsAccess | undefined =
      podPath === ""
        ? undefined
        : {
            open: (path) => (path === podPath ? netnsFromFd(path, netnsFd, request.netnsErrno) : openNetns(path)),
            ...(netnsFd === undefined ? {} : { execPath: `/proc/${process.pid}/fd/${netnsFd}` }),
          };
    let stdout = "";
    let stderr = "";
    const io: PluginIO = {
      env: request.env,
      readStdin: async () => Buffer.from(request.stdin).toString("utf8"),
      stdout: (s) => void (stdout += s),
      stderr: (s) => void (stderr += s),
      ownNetns: () => ownNetns(request, netnsFd),
      ...(access ? { netnsAccess: access } : {}),
    };
    const exitCode = await dispatch(def.funcs, def.versions, def.about, io);
    return { exitCode, stdout: encoder.encode(stdout), stderr: encoder.encode(stderr) };
  }
}
