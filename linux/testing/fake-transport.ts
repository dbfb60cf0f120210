/**
 * A scripted stand-in for the kernel end of a netlink socket, for unit tests of the socket
 * discipline and the client: it records every request and answers with datagrams built by
 * `reply`. Helpers build ACK/error/DONE messages the way the kernel lays them out.
 */
import { NlWriter } from "../netlink/attrs.ts";
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSGERR_ATTR_MSG,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_MULTI,
} from "../netlink/constants.ts";
import { splitMessages, type NlMessage } from "../netlink/message.ts";
import type { NetlinkTransport } from "../netlink/socket.ts";
import { SyscallError } from "../errors.ts";

/** Encode one message with a raw body. */
export function rawMessage(type: number, flags: number, seq: number, body: Uint8Array): Uint8Array {
  const w = new NlWriter(16 + body.byteLength);
  w.u32(16 + body.byteLength)
    .u16(type)
    .u16(flags)
    .u32(seq)
    .u32(0)
    .bytes(body)
    .pad();
  return w.finish();
}

/** NLMSG_ERROR as the kernel sends it with NETLINK_CAP_ACK and NETLINK_EXT_ACK on. */
export function errorMessage(req: NlMessage, errno: number, extack = ""): Uint8Array {
  const w = new NlWriter();
  w.i32(-errno)
    .u32(16 + req.body.byteLength)
    .u16(req.type)
    .u16(req.flags)
    .u32(req.seq)
    .u32(req.pid);
  if (extack) w.attrStr(NLMSGERR_ATTR_MSG, extack);
  return rawMessage(NLMSG_ERROR, NLM_F_CAPPED | (extack ? NLM_F_ACK_TLVS : 0), req.seq, w.finish());
}

export function doneMessage(seq: number, flags = NLM_F_MULTI): Uint8Array {
  return rawMessage(NLMSG_DONE, flags, seq, new Uint8Array(4));
}

/** Concatenate messages into one datagram. */
export function datagram(...msgs: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(msgs.reduce((n, m) => n + m.byteLength, 0));
  let off = 0;
  for (const m of msgs) {
    out.set(m, off);
    off += m.byteLength;
  }
  return out;
}

/** What the fake answers to one request: datagrams, or a syscall error number thrown by recv. */
export type FakeReply = (Uint8Array | number)[];

export class FakeTransport implements NetlinkTransport {
  readonly sent: NlMessage[] = [];
  private readonly queue: (Uint8Array | number)[] = [];
  closed = false;

  constructor(private readonly reply: (req: NlMessage) => FakeReply) {}

  send(msg: Uint8Array): void {
    for (const m of splitMessages(msg, msg.byteLength)) {
      this.sent.push(m);
      this.queue.push(...this.reply(m));
    }
  }

  recv(buf: Uint8Array): number {
    const next = this.queue.shift();
    if (next === undefined) throw new SyscallError(11, "recv");
    if (typeof next === "number") throw new SyscallError(next, "recv");
    buf.set(next.subarray(0, Math.min(next.byteLength, buf.byteLength)));
    return next.byteLength;
  }

  close(): void {
    this.closed = true;
  }
}
