/**
 * `weft doctor`'s side of the node probe (protocol.ts): send a request to a peer's flanneld and
 * wait for its answer, a few times, since a single UDP datagram may be lost.
 */
import { randomBytes } from "node:crypto";
import { createSocket, type RemoteInfo } from "node:dgram";
import { errorMessage } from "../log.ts";
import { decodeReply, encodeRequest, type ProbeReply } from "./protocol.ts";

export interface ProbeOptions {
  /** The peer's address (overlay or underlay). */
  readonly address: string;
  /** The peer's health port (UDP). */
  readonly port: number;
  /** Send from this local address (the overlay device's, so the answer comes back through the overlay). */
  readonly bindAddress?: string;
  /** The sender's lease subnet(s), so the peer can say whether it knows them. */
  readonly from: string;
  /** Whole wait. @default 1500 */
  readonly timeoutMs?: number;
  /** Requests sent, spread over the wait. @default 3 */
  readonly attempts?: number;
}

export type ProbeOutcome =
  | { readonly ok: true; readonly reply: ProbeReply; readonly rttMs: number }
  | { readonly ok: false; readonly error: string };

export function probePeer(o: ProbeOptions): Promise<ProbeOutcome> {
  const family = o.address.includes(":") ? "udp6" : "udp4";
  const id = randomBytes(8).toString("hex");
  const attempts = o.attempts ?? 3;
  const timeoutMs = o.timeoutMs ?? 1500;
  const socket = createSocket({ type: family });
  return new Promise<ProbeOutcome>((resolve) => {
    const timers: ReturnType<typeof setTimeout>[] = [];
    let sentAt = 0;
    const finish = (out: ProbeOutcome) => {
      for (const t of timers) clearTimeout(t);
      socket.removeAllListeners("message");
      try {
        socket.close();
      } catch {
        /* closed already */
      }
      resolve(out);
    };
    socket.on("message", (msg: Buffer, rinfo: RemoteInfo) => {
      const reply = decodeReply(msg);
      if (!reply || reply.id !== id || rinfo.address !== o.address) return;
      finish({ ok: true, reply, rttMs: performance.now() - sentAt });
    });
    socket.once("error", (e) => finish({ ok: false, error: errorMessage(e) }));
    const request = encodeRequest({ id, from: o.from });
    const send = () => {
      sentAt = performance.now();
      socket.send(request, o.port, o.address, (e) => {
        if (e) finish({ ok: false, error: errorMessage(e) });
      });
    };
    const start = () => {
      for (let i = 0; i < attempts; i++) timers.push(setTimeout(send, (i * timeoutMs) / attempts));
      timers.push(setTimeout(() => finish({ ok: false, error: `no answer within ${timeoutMs} ms` }), timeoutMs));
    };
    socket.bind({ port: 0, ...(o.bindAddress ? { address: o.bindAddress } : {}) }, start);
  });
}
