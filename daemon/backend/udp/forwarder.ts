// The daemon thread's handle on the forwarder worker (forwarder-worker.ts): start it on open file
// descriptors, hand it new route tables (a message, then a write to the eventfd its poll watches),
// read its counters, stop it. The descriptors stay the caller's to close, after stop().
import { MessageChannel, Worker } from "node:worker_threads";
import * as libc from "../../../linux/ffi/libc.ts";
import type { ForwarderInit, ForwarderStats, FromWorker, ToWorker } from "./protocol.ts";
import type { PeerRoute } from "./table.ts";

export interface Forwarder {
  /** Replace the route table; resolves once the worker uses it. */
  setRoutes(routes: readonly PeerRoute[]): Promise<void>;
  stats(): Promise<ForwarderStats>;
  /** Stop the worker (it leaves its loop within one poll); resolves with its final counters. */
  stop(): Promise<ForwarderStats>;
  /** Rejects if the worker fails or exits unasked; resolves after stop(). */
  readonly done: Promise<void>;
}

const ONE = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

/**
 * The worker module. Run from source it sits beside this file. In the compiled binary (modules under
 * /$bunfs/root) a worker entry is named by its path from the build's root (scripts/build.ts builds
 * from the repository root with this file's worker as an entry point).
 */
function workerSpecifier(): string | URL {
  const here = new URL("./forwarder-worker.ts", import.meta.url);
  return here.pathname.startsWith("/$bunfs/") ? "./daemon/backend/udp/forwarder-worker.ts" : here;
}

/** Start the worker; resolves when it polls, with `init.routes` in effect. */
export async function startForwarder(init: Omit<ForwarderInit, "wakeFd">): Promise<Forwarder> {
  const wakeFd = libc.eventfd(0, libc.EFD_NONBLOCK | libc.EFD_CLOEXEC);
  const { port1, port2 } = new MessageChannel();
  const full: ForwarderInit = { ...init, wakeFd };
  let worker: Worker;
  try {
    worker = new Worker(workerSpecifier(), { workerData: { init: full, port: port2 }, transferList: [port2] });
  } catch (e) {
    libc.close(wakeFd);
    port1.close();
    throw e;
  }
  let gen = 0;
  let statsId = 0;
  let stopping = false;
  const waiting = new Map<string, (m: FromWorker) => void>();
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  let settle!: { resolve: () => void; reject: (e: Error) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  let final: ForwarderStats | undefined;
  const cleanup = () => {
    port1.close();
    try {
      libc.close(wakeFd);
    } catch {
      // already closed
    }
  };
  worker.on("message", (m: FromWorker) => {
    if (m.type === "ready") ready();
    else if (m.type === "routes-applied") waiting.get(`routes:${m.gen}`)?.(m);
    else if (m.type === "stats") waiting.get(`stats:${m.id}`)?.(m);
    else if (m.type === "stopped") {
      final = m.stats;
      void worker.terminate();
    }
  });
  worker.on("error", (e: Error) => {
    cleanup();
    settle.reject(new Error(`udp forwarder failed: ${e.message}`));
  });
  worker.on("exit", (code) => {
    cleanup();
    if (stopping && final) settle.resolve();
    else settle.reject(new Error(`udp forwarder exited unexpectedly (code ${code})`));
  });
  const send = (m: ToWorker) => {
    port1.postMessage(m);
    libc.write(wakeFd, ONE);
  };
  const request = <T extends FromWorker>(key: string, m: ToWorker): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      waiting.set(key, (r) => {
        waiting.delete(key);
        resolve(r as T);
      });
      done.catch(reject);
      send(m);
    });
  await Promise.race([readyP, done]);
  return {
    async setRoutes(routes) {
      gen++;
      await request(`routes:${gen}`, { type: "routes", routes, gen });
    },
    async stats() {
      const id = ++statsId;
      const r = await request<Extract<FromWorker, { type: "stats" }>>(`stats:${id}`, { type: "stats", id });
      return r.stats;
    },
    async stop() {
      if (!stopping) {
        stopping = true;
        send({ type: "stop" });
      }
      await done;
      if (!final) throw new Error("udp forwarder stopped without its counters");
      return final;
    },
    done,
  };
}
