/**
 * Root-test driver (bun): talks to a CNI server socket below the relay client, to see how the server
 * treats clients that are not the flannel exec. Prints one JSON line.
 *
 *   garbage <socket> <seed> <count>   send <count> seeded random or mangled frames, one per connection;
 *                                     prints how each ended: {"refused": n, "closed": n, "other": n}
 *   silent <socket> <ms>              connect, send nothing, report when the server hung up
 *   oversize <socket> <bytes>         announce a request of <bytes>; print the answer
 *   status <socket> <n> <stdin>       <n> concurrent STATUS calls with <stdin>; print their exit codes
 *   call <socket> <env json> <stdin>  one full call without a netns fd; print the result
 *   loop <socket> <n> <netns> <stdin> <n> rounds of ADD then DEL of one pod (CNI_* from this process's
 *                                     environment, CNI_CONTAINERID numbered), the netns fd passed as the
 *                                     flannel exec passes it; prints the failures and the ms per round
 */
import * as libc from "../../linux/ffi/libc.ts";
import { POLLIN, connectUnix, pollFds, recvWithFds, revents, sendAll } from "../../linux/unix-socket.ts";
import { GO, HEADER_BYTES, decodeAnswer, encodeRequest } from "../../libcni/relay/protocol.ts";
import { Rng } from "../../netns-fixtures/fuzz/fuzz.ts";

const [cmd = "", socket = "", a = "", b = ""] = process.argv.slice(2);
const out = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v)}\n`);

/** Read until the server closes or `ms` pass; the bytes read, and whether it closed. */
function drain(fd: number, ms: number): { bytes: Uint8Array; closed: boolean } {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  const end = performance.now() + ms;
  for (;;) {
    const left = end - performance.now();
    if (left <= 0) return { bytes: concat(chunks), closed: false };
    const p = pollFds([{ fd, events: POLLIN }]);
    if (libc.poll(p, 1, Math.ceil(left)) === 0 || revents(p, 0) === 0) continue;
    let n = 0;
    try {
      n = recvWithFds(fd, buf).n;
    } catch {
      return { bytes: concat(chunks), closed: true };
    }
    if (n === 0) return { bytes: concat(chunks), closed: true };
    chunks.push(buf.slice(0, n));
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function valid(rng: Rng): Uint8Array {
  return encodeRequest({
    env: { CNI_COMMAND: "STATUS", CNI_PATH: "/opt/cni/bin", X: "y".repeat(rng.int(0, 40)) },
    stdin: new TextEncoder().encode('{"cniVersion":"1.1.0","name":"x","type":"flannel"}'),
    hasNetnsFd: false,
    ownNetns: false,
    netnsErrno: 0,
  });
}

/** A frame that is wrong in one of the ways a broken or hostile client could be wrong. */
function mangled(rng: Rng): Uint8Array {
  const f = valid(rng);
  const v = new DataView(f.buffer);
  switch (rng.int(0, 7)) {
    case 0:
      return f.slice(0, rng.int(1, f.byteLength - 1)); // cut short, then the client waits
    case 1:
      v.setUint8(rng.int(0, 3), 0x21); // bad magic
      return f;
    case 2:
      v.setUint8(4, rng.int(2, 255)); // unknown version
      return f;
    case 3:
      v.setUint32(8, 0xffffffff, true); // env length far beyond the cap
      return f;
    case 4:
      f.fill(0x7b, HEADER_BYTES, HEADER_BYTES + 4); // env is not JSON
      return f;
    case 5:
      v.setUint8(5, 0xff); // unknown flags
      return f;
    case 6:
      return concat([f, new Uint8Array(rng.int(1, 64)).fill(7)]); // bytes after the request
    default: {
      const g = new Uint8Array(rng.int(1, 512));
      for (let i = 0; i < g.byteLength; i++) g[i] = rng.int(0, 255);
      return g; // noise
    }
  }
}

function garbage(seed: number, count: number): void {
  const rng = new Rng(seed);
  const tally = { refused: 0, closed: 0, other: 0 };
  for (let i = 0; i < count; i++) {
    const fd = connectUnix(socket);
    try {
      sendAll(fd, mangled(rng));
      const r = drain(fd, 8000);
      const answer = r.bytes.byteLength > 0 ? safeDecode(r.bytes) : undefined;
      if (answer?.kind === "refuse") tally.refused++;
      else if (r.closed && r.bytes.byteLength === 0) tally.closed++;
      else tally.other++;
    } finally {
      libc.close(fd);
    }
  }
  out(tally);
}

function safeDecode(b: Uint8Array): ReturnType<typeof decodeAnswer> {
  try {
    return decodeAnswer(b);
  } catch {
    return undefined;
  }
}

/** One call (with the netns fd when given), as far as the answer. */
function call(
  env: Record<string, string>,
  stdin: string,
  netnsFd?: number,
): { exitCode: number; stdout: string } | { refused: string } {
  const fd = connectUnix(socket);
  try {
    const frame = encodeRequest({
      env,
      stdin: new TextEncoder().encode(stdin),
      hasNetnsFd: netnsFd !== undefined,
      ownNetns: false,
      netnsErrno: 0,
    });
    try {
      sendAll(fd, frame, netnsFd);
    } catch {
      // the server may answer and hang up before reading: its answer is still there to read
    }
    const first = drain1(fd);
    if (first?.kind === "refuse") return { refused: first.reason };
    if (first?.kind !== "offer") return { refused: `no offer (got ${first?.kind ?? "nothing"}: ${lastBytes})` };
    sendAll(fd, Uint8Array.of(GO));
    const r = drain(fd, 60_000);
    const answer = safeDecode(r.bytes);
    if (answer?.kind !== "result") return { refused: "no result" };
    return { exitCode: answer.result.exitCode, stdout: new TextDecoder().decode(answer.result.stdout) };
  } finally {
    libc.close(fd);
  }
}

/** The bytes of the last first answer read, in hex (for reports). */
let lastBytes = "";

function drain1(fd: number): ReturnType<typeof decodeAnswer> {
  const buf = new Uint8Array(65536);
  let have: Uint8Array = new Uint8Array();
  for (;;) {
    const got = safeDecode(have);
    lastBytes = Buffer.from(have.subarray(0, 16)).toString("hex");
    if (got) return got;
    const n = recvWithFds(fd, buf).n;
    if (n === 0) return undefined;
    have = concat([have, buf.slice(0, n)]);
  }
}

if (cmd === "garbage") garbage(Number(a), Number(b));
else if (cmd === "silent") {
  const fd = connectUnix(socket);
  const t0 = performance.now();
  const r = drain(fd, Number(a));
  out({ closed: r.closed, afterMs: Math.round(performance.now() - t0) });
  libc.close(fd);
} else if (cmd === "oversize") {
  const fd = connectUnix(socket);
  const head = valid(new Rng(1)).slice(0, HEADER_BYTES);
  new DataView(head.buffer).setUint32(12, Number(a), true);
  sendAll(fd, head);
  const r = drain(fd, 8000);
  out({ answer: safeDecode(r.bytes), closed: r.closed });
  libc.close(fd);
} else if (cmd === "status") {
  // every connection is open and has sent its request before any is answered, so the server holds
  // <n> clients at once; then each gets its offer, GO, and its result
  const env = { CNI_COMMAND: "STATUS", CNI_PATH: process.env["CNI_PATH"] ?? "" };
  const frame = encodeRequest({
    env,
    stdin: new TextEncoder().encode(b),
    hasNetnsFd: false,
    ownNetns: false,
    netnsErrno: 0,
  });
  const fds = Array.from({ length: Number(a) }, () => {
    const fd = connectUnix(socket);
    sendAll(fd, frame);
    return fd;
  });
  const offered = fds.map((fd) => {
    const first = drain1(fd);
    if (first?.kind === "offer") sendAll(fd, Uint8Array.of(GO));
    return first?.kind ?? "closed";
  });
  const codes = fds.map((fd, i) => {
    if (offered[i] !== "offer") return offered[i];
    const r = safeDecode(drain(fd, 60_000).bytes);
    libc.close(fd);
    return r?.kind === "result" ? r.result.exitCode : "no result";
  });
  out(codes);
} else if (cmd === "call") out(call(JSON.parse(a) as Record<string, string>, b));
else if (cmd === "loop") {
  const [, , , netns = "", stdin = ""] = process.argv.slice(2);
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith("CNI_") && v !== undefined) base[k] = v;
  const failures: string[] = [];
  const t0 = performance.now();
  const rounds = Number(a);
  const commands = (process.env["LOOP_COMMANDS"] ?? "ADD,DEL").split(",");
  for (let i = 0; i < rounds; i++) {
    for (const command of commands) {
      const nsFd = libc.open(netns, libc.O_RDONLY);
      const env = { ...base, CNI_COMMAND: command, CNI_CONTAINERID: `loop-${i}`, CNI_NETNS: netns };
      const r = call(env, stdin, nsFd);
      libc.close(nsFd);
      if (!("exitCode" in r) || r.exitCode !== 0) failures.push(`${command} ${i}: ${JSON.stringify(r)}`);
    }
  }
  out({ failures: failures.slice(0, 5), failed: failures.length, msPerRound: (performance.now() - t0) / rounds });
} else {
  process.stderr.write(`unknown command ${cmd}\n`);
  process.exit(2);
}
