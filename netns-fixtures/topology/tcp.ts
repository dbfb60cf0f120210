// TCP reachability between namespaces: a tiny echo server per target netns (Node, loopback-free:
// it binds the pod's own address) and a client that sends a token and expects it back.
import { spawn, type ChildProcess } from "node:child_process";
import { runIn } from "./sh.ts";

const SERVER = `
const net = require("node:net");
const s = net.createServer((c) => { c.on("data", (d) => c.write(d)); c.on("error", () => {}); });
s.listen(Number(process.argv[1]), process.argv[2], () => process.stdout.write("ready\\n"));
`;
const CLIENT = `
const net = require("node:net");
const [port, host, token] = process.argv.slice(1);
const c = net.connect({ port: Number(port), host, timeout: 3000 }, () => c.write(token));
let got = "";
c.on("data", (d) => {
  got += d;
  if (got.length >= token.length) {
    process.stdout.write(got === token ? "ok" : "mismatch:" + got);
    process.exit(got === token ? 0 : 2);
  }
});
c.on("end", () => { process.stdout.write("closed:" + got); process.exit(2); });
c.on("timeout", () => { process.stdout.write("timeout"); process.exit(3); });
c.on("error", (e) => { process.stdout.write(e.code || String(e)); process.exit(4); });
`;

export class EchoServer {
  private constructor(private readonly child: ChildProcess) {}
  static async start(ns: string, ip: string, port = 7777): Promise<EchoServer> {
    const child = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", SERVER, String(port), ip], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`echo server in ${ns} on ${ip}:${port} did not start`)), 10_000);
      child.stdout?.once("data", () => {
        clearTimeout(t);
        resolve();
      });
      child.once("exit", (code) => reject(new Error(`echo server in ${ns} exited ${code}`)));
    });
    return new EchoServer(child);
  }
  stop(): void {
    this.child.kill("SIGKILL");
  }
}

/** "ok" when a TCP round trip from `fromNs` to ip:port works, else the failure (timeout, ECONNREFUSED...). */
export async function tcpProbe(fromNs: string, ip: string, port = 7777): Promise<string> {
  const token = `weft-${Math.random().toString(36).slice(2)}`;
  const r = await runIn(fromNs, process.execPath, ["-e", CLIENT, String(port), ip, token], {
    allowFail: true,
    timeoutMs: 10_000,
  });
  return r.stdout.trim() || `exit ${r.exitCode}`;
}

const PINGER = `
const c = require("node:net").connect(Number(process.argv[1]), process.argv[2]);
let sent = 0, got = 0;
c.on("data", (d) => { got += d.length; });
const t = setInterval(() => { c.write("x"); sent++; }, 100);
c.on("error", (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(1); });
setTimeout(() => {
  clearInterval(t);
  setTimeout(() => { console.log(JSON.stringify({ sent, got })); process.exit(0); }, 300);
}, Number(process.argv[3]));
`;

/** What a {@link LiveConnection} saw: bytes sent and echoed back, or the socket error. */
export interface LiveConnectionResult {
  readonly sent?: number;
  readonly got?: number;
  readonly error?: string;
}

/**
 * One long-lived TCP connection from `fromNs` to an echo server at `ip`, writing a byte every
 * 100 ms for `ms`: survives a daemon restart only if the data plane stays up all along.
 */
export class LiveConnection {
  readonly #done: Promise<string>;

  constructor(fromNs: string, ip: string, o: { readonly port?: number; readonly ms?: number } = {}) {
    const child = spawn(
      "ip",
      ["netns", "exec", fromNs, process.execPath, "-e", PINGER, String(o.port ?? 7777), ip, String(o.ms ?? 4000)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    // "close", not "exit": stdout is read to its end.
    this.#done = new Promise((res) => child.once("close", () => res(out)));
  }

  /** Waits for the connection's end and returns its counts. */
  async result(): Promise<LiveConnectionResult> {
    return JSON.parse(await this.#done) as LiveConnectionResult;
  }
}
