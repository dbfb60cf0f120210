/**
 * Root-test driver (bun): flanneld's CNI server on its own, without leases, serving the real flannel
 * plugin on a socket, or a misbehaving stand-in for the fault tests.
 *
 *   bun daemon/testing/cni-server-driver.ts <socket> [mode] [--read-ms N] [--go-ms N] [--call-ms N]
 *     [--stall-ms N]   (serve: block the main thread for N ms shortly after start)
 *
 * mode: serve (default: the real server; prints `call <COMMAND> <exit code>` per answered call),
 * silent (accepts and never answers), drop-after-go (offers, reads GO, hangs up),
 * refuse (refuses every call). Prints `listening` once the socket is up. SIGTERM stops the real
 * server (it removes its socket); the stand-ins need SIGKILL.
 */
import { PLUGINS } from "../../bin/plugins.ts";
import { GO, OFFER, encodeRefusal } from "../../libcni/relay/protocol.ts";
import type { PluginDefinition } from "../../libcni/skel/definition.ts";
import type { PluginFuncs } from "../../libcni/skel/skel.ts";
import * as libc from "../../linux/ffi/libc.ts";
import { listenUnix, recvWithFds, sendWithFd } from "../../linux/unix-socket.ts";
import { CniServer } from "../cni-server/server.ts";
import { createLogger } from "../log.ts";

const [socketPath = "", mode = "serve", ...rest] = process.argv.slice(2);
const opt = <K extends string>(name: string, key: K): { [P in K]?: number } => {
  const i = rest.indexOf(`--${name}`);
  return (i >= 0 ? { [key]: Number(rest[i + 1]) } : {}) as { [P in K]?: number };
};
const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** The flannel definition, printing each answered call. */
async function countedFlannel(): Promise<PluginDefinition> {
  const def = await PLUGINS.flannel();
  const wrap =
    <A extends unknown[], R>(name: string, fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      try {
        const r = await fn(...a);
        say(`call ${name} 0`);
        return r;
      } catch (e) {
        say(`call ${name} 1`);
        throw e;
      }
    };
  const f = def.funcs;
  const funcs: PluginFuncs = {
    add: wrap("ADD", (a) => f.add(a)),
    del: wrap("DEL", (a) => f.del(a)),
    ...(f.check ? { check: wrap("CHECK", (a) => f.check?.(a) ?? Promise.resolve()) } : {}),
    ...(f.gc ? { gc: wrap("GC", (a) => f.gc?.(a) ?? Promise.resolve()) } : {}),
    ...(f.status ? { status: wrap("STATUS", (a) => f.status?.(a) ?? Promise.resolve()) } : {}),
  };
  return { ...def, funcs };
}

async function serve(): Promise<void> {
  const server = await CniServer.start({
    socketPath,
    plugin: countedFlannel,
    log: createLogger({ verbosity: 1 }),
    ...opt("read-ms", "readDeadlineMs"),
    ...opt("go-ms", "goDeadlineMs"),
    ...opt("call-ms", "callDeadlineMs"),
  });
  const stall = opt("stall-ms", "ms").ms;
  if (stall !== undefined) {
    // the main thread stuck in synchronous work (a long reconcile, a hung library call)
    setTimeout(() => {
      const end = Date.now() + stall;
      while (Date.now() < end);
    }, 200);
  }
  say("listening");
  process.on("SIGTERM", () => {
    void server.stop().then(() => process.exit(0));
  });
}

/** A stand-in that misbehaves on purpose, one connection at a time (blocking). */
function misbehave(): void {
  const fd = listenUnix(socketPath, { mode: 0o600, backlog: 16 });
  libc.fcntl(fd, libc.F_SETFL, libc.fcntl(fd, libc.F_GETFL, 0) & ~libc.O_NONBLOCK);
  // blocked in accept(2), this thread runs no signal handler: the test kills it with SIGKILL
  say("listening");
  const buf = new Uint8Array(1 << 20);
  const held: number[] = [];
  for (;;) {
    const c = libc.accept4(fd, 0o2000000);
    const got = recvWithFds(c, buf);
    for (const f of got.fds) libc.close(f);
    if (mode === "silent") {
      held.push(c);
      continue;
    }
    if (mode === "refuse") {
      sendWithFd(c, encodeRefusal("refused by the test driver"));
    } else if (mode === "drop-after-go") {
      sendWithFd(c, Uint8Array.of(OFFER));
      const go = recvWithFds(c, buf);
      if (go.n > 0 && buf[0] === GO) say("took a call and hung up");
    }
    libc.close(c);
  }
}

if (mode === "serve") await serve();
else misbehave();
