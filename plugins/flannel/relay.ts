/**
 * The flannel exec's front: hand the call to the node's flanneld over its CNI socket and print what
 * the daemon answers. The daemon runs the same plugin code, warm; this exec only relays. When no
 * daemon answers (no socket, nothing listening, a refusal, no offer within OFFER_DEADLINE_MS) the
 * caller runs the call in-process instead, with the stdin read here. Once the daemon has the call
 * (GO sent) it is never run a second time here: a connection lost after that is CNI error 11, and
 * the runtime's retry runs it again (ADD and DEL are idempotent).
 *
 * Kept small on purpose: this is what every flannel exec loads before anything else (no skel, no
 * schema validation, no netlink).
 */
import { fstatSync, statSync } from "node:fs";
import { GO, decodeAnswer, encodeRequest, RelayProtocolError, type RelayResult } from "../../libcni/relay/protocol.ts";
import { readAllBytesSync, writeAllBytesSync } from "../../libcni/stdio.ts";
import { socketPath } from "./relay-socket.ts";
import { SyscallError } from "../../linux/errors.ts";
import * as libc from "../../linux/ffi/libc.ts";
import { POLLIN, connectUnix, pollFds, recvWithFds, revents, sendAll, sendWithFd } from "../../linux/unix-socket.ts";

/** How long the daemon has to offer to take the call before this exec runs it itself. */
export const OFFER_DEADLINE_MS = 1500;
const RELAYED = new Set(["ADD", "DEL", "CHECK", "GC", "STATUS"]);

export type RelayOutcome =
  | { readonly relayed: true; readonly exitCode: number }
  | { readonly relayed: false; readonly stdin: string | undefined; readonly why: string };

/** Open CNI_NETNS to pass it along: its fd, or the errno of trying. */
function openPodNetns(path: string): { fd?: number; errno: number; own: boolean } {
  if (path === "") return { errno: 0, own: false };
  let fd: number;
  try {
    fd = libc.open(path, libc.O_RDONLY);
  } catch (e) {
    if (e instanceof SyscallError) return { errno: e.errno, own: false };
    throw e;
  }
  let own = false;
  try {
    const a = fstatSync(fd);
    const b = statSync("/proc/thread-self/ns/net");
    own = a.dev === b.dev && a.ino === b.ino;
  } catch {
    own = false;
  }
  return { fd, errno: 0, own };
}

/** Read from `fd` until `done` decodes something, or the deadline (ms from now; Infinity: none) passes. */
function readUntil<T>(
  fd: number,
  deadlineMs: number,
  done: (buf: Uint8Array) => T | undefined,
  start: Uint8Array,
): T | "eof" | "timeout" {
  let buf = start;
  const end = performance.now() + deadlineMs;
  const chunk = new Uint8Array(64 * 1024);
  for (;;) {
    const got = done(buf);
    if (got !== undefined) return got;
    const left = end - performance.now();
    if (left <= 0) return "timeout";
    const fds = pollFds([{ fd, events: POLLIN }]);
    if (libc.poll(fds, 1, Number.isFinite(left) ? Math.ceil(left) : -1) === 0) continue;
    if (revents(fds, 0) === 0) continue;
    const { n, fds: passed } = recvWithFds(fd, chunk);
    for (const p of passed) libc.close(p);
    if (n === 0) return "eof";
    const next = new Uint8Array(buf.byteLength + n);
    next.set(buf, 0);
    next.set(chunk.subarray(0, n), buf.byteLength);
    buf = next;
  }
}

function tryAgain(msg: string, details: string): RelayResult {
  const text = JSON.stringify({ code: 11, msg, details }, null, 4);
  return { exitCode: 1, stdout: new TextEncoder().encode(text), stderr: new Uint8Array() };
}

/**
 * Relay this exec's call. `readStdin` is called only for the commands that are relayed; its bytes
 * are handed back undecoded-as-text for the in-process fallback.
 */
export function relayCall(env: Readonly<Record<string, string | undefined>>, stdinFd = 0): RelayOutcome {
  const cmd = env["CNI_COMMAND"] ?? "";
  if (!RELAYED.has(cmd)) return { relayed: false, stdin: undefined, why: `CNI_COMMAND ${cmd || "(unset)"} runs here` };
  const stdinBytes = readAllBytesSync(stdinFd);
  const stdin = stdinBytes.toString("utf8");
  const path = socketPath(env, stdin);
  if (path === undefined) return { relayed: false, stdin, why: "relay off" };
  let sock: number;
  try {
    sock = connectUnix(path);
  } catch (e) {
    return { relayed: false, stdin, why: `no daemon at ${path}: ${e instanceof Error ? e.message : String(e)}` };
  }
  const ns = openPodNetns(env["CNI_NETNS"] ?? "");
  try {
    const plainEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) if (v !== undefined) plainEnv[k] = v;
    const frame = encodeRequest({
      env: plainEnv,
      stdin: stdinBytes,
      hasNetnsFd: ns.fd !== undefined,
      ownNetns: ns.own,
      netnsErrno: ns.errno,
    });
    try {
      sendAll(sock, frame, ns.fd);
    } catch (e) {
      return { relayed: false, stdin, why: `daemon at ${path} did not take the request: ${String(e)}` };
    }
    let first: ReturnType<typeof decodeAnswer> | "eof" | "timeout";
    try {
      first = readUntil(sock, OFFER_DEADLINE_MS, (b) => decodeAnswer(b), new Uint8Array());
    } catch (e) {
      return { relayed: false, stdin, why: `daemon at ${path}: ${String(e)}` };
    }
    if (first === "eof" || first === "timeout") return { relayed: false, stdin, why: `daemon at ${path}: ${first}` };
    if (first === undefined || first.kind !== "offer") {
      return { relayed: false, stdin, why: first?.kind === "refuse" ? `daemon refused: ${first.reason}` : "no offer" };
    }
    try {
      sendWithFd(sock, Uint8Array.of(GO));
    } catch {
      // The daemon may or may not have seen GO: it owns the call now either way.
      return finish(tryAgain("lost flanneld's CNI server while handing it the call", retryDetails(path)));
    }
    let answer: ReturnType<typeof decodeAnswer> | "eof" | "timeout";
    try {
      answer = readUntil(
        sock,
        Number.POSITIVE_INFINITY,
        (b) => (b.byteLength > 0 ? decodeAnswer(b) : undefined),
        new Uint8Array(),
      );
    } catch (e) {
      const why = e instanceof RelayProtocolError ? e.message : String(e);
      return finish(tryAgain(`flanneld's CNI server broke off the call: ${why}`, retryDetails(path)));
    }
    if (answer === "eof" || answer === "timeout" || answer === undefined || answer.kind !== "result") {
      return finish(tryAgain("flanneld's CNI server closed the connection during the call", retryDetails(path)));
    }
    return finish(answer.result);
  } finally {
    libc.close(sock);
    if (ns.fd !== undefined) libc.close(ns.fd);
  }
}

function retryDetails(path: string): string {
  return `the call may have run in part on the daemon (${path}); retry it: ADD and DEL are safe to repeat`;
}

function finish(r: RelayResult): RelayOutcome {
  if (r.stderr.byteLength > 0) writeAllBytesSync(2, r.stderr);
  if (r.stdout.byteLength > 0) writeAllBytesSync(1, r.stdout);
  return { relayed: true, exitCode: r.exitCode };
}
