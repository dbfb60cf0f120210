/**
 * Request/response discipline over a netlink transport, in one place: sequence numbers,
 * ACK waits, dumps read until NLMSG_DONE, stale-reply skipping, dump restarts on
 * NLM_F_DUMP_INTR / ENOBUFS, and errors turned into `NetlinkError{errno, code, op}`.
 * The transport is an interface so this module is pure and unit-tested with a fake;
 * the kernel transport lives in kernel-transport.ts.
 */
import { NetlinkError, SyscallError } from "../errors.ts";
import { Errno } from "../errno.ts";
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
} from "./constants.ts";
import { decodeError, encodeMessage, splitMessages, type NlMessage, type NlRequest } from "./message.ts";

/** One netlink socket as datagrams in and out. */
export interface NetlinkTransport {
  send(msg: Uint8Array): void;
  /**
   * Receive one datagram into `buf`; returns its real length, which is larger than
   * `buf.byteLength` when it was truncated. Throws SyscallError (e.g. ENOBUFS, EAGAIN on timeout).
   * With `dontWait`, throws EAGAIN at once when nothing is queued (event monitors poll this way).
   */
  recv(buf: Uint8Array, dontWait?: boolean): number;
  close(): void;
}

const DUMP_ATTEMPTS = 5;

export class NetlinkSocket {
  private seq: number;
  private buf = new Uint8Array(64 * 1024);

  constructor(
    private readonly transport: NetlinkTransport,
    initialSeq = (Date.now() & 0x3fffffff) + 1,
  ) {
    this.seq = initialSeq;
  }

  /** Send a request with NLM_F_ACK and wait for its ACK; a kernel error throws NetlinkError. */
  ack(req: NlRequest): void {
    const seq = this.send(req, req.flags | NLM_F_ACK);
    for (;;) {
      for (const m of this.receive(req.op)) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG_ERROR) {
          const e = decodeError(m);
          if (e.errno !== 0) throw new NetlinkError(e.errno, req.op, e.extack);
          return;
        }
      }
    }
  }

  /** Send a non-dump request that the kernel answers with one message (e.g. RTM_GETLINK by name). */
  get(req: NlRequest): NlMessage {
    const seq = this.send(req, req.flags);
    for (;;) {
      for (const m of this.receive(req.op)) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG_ERROR) {
          const e = decodeError(m);
          throw new NetlinkError(e.errno === 0 ? Errno.ENODEV : e.errno, req.op, e.extack);
        }
        return m;
      }
    }
  }

  /** Dump: all messages until NLMSG_DONE. Restarted when the kernel flags it inconsistent. */
  dump(req: NlRequest): NlMessage[] {
    // each message keeps a copy of its datagram: the receive buffer is reused
    return this.dumpEach(req, (m) => ({ ...m, body: m.body.slice() }));
  }

  /**
   * Dump, decoding each message while it is still in the receive buffer: `decode` sees a view
   * valid only during the call (copy what it keeps) and returns the value to collect, or
   * undefined to skip it. Nothing of the raw reply outlives the call; a restarted dump (see
   * `dump`) starts the collection over.
   */
  dumpEach<T>(req: NlRequest, decode: (m: NlMessage) => T | undefined): T[] {
    for (let attempt = 1; ; attempt++) {
      const r = this.dumpOnce(req, decode);
      if (r !== "retry") return r;
      if (attempt >= DUMP_ATTEMPTS) throw new NetlinkError(Errno.EAGAIN, `${req.op}: dump kept changing`);
    }
  }

  close(): void {
    this.transport.close();
  }

  private dumpOnce<T>(req: NlRequest, decode: (m: NlMessage) => T | undefined): T[] | "retry" {
    const seq = this.send(req, req.flags | NLM_F_DUMP);
    const out: T[] = [];
    let interrupted = false;
    for (;;) {
      let batch: NlMessage[];
      try {
        batch = this.receive(req.op, false);
      } catch (e) {
        if (e instanceof NetlinkError && e.errno === Errno.ENOBUFS) return "retry";
        throw e;
      }
      for (const m of batch) {
        if (m.seq !== seq) continue;
        if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
        if (m.type === NLMSG_DONE) {
          const err =
            m.body.byteLength >= 4 ? -new DataView(m.body.buffer, m.body.byteOffset, 4).getInt32(0, true) | 0 : 0;
          if (err > 0) throw new NetlinkError(err, req.op);
          return interrupted ? "retry" : out;
        }
        if (m.type === NLMSG_ERROR) {
          const e = decodeError(m);
          if (e.errno !== 0) throw new NetlinkError(e.errno, req.op, e.extack);
          continue;
        }
        if (m.type === NLMSG_NOOP) continue;
        if (m.type === NLMSG_OVERRUN) return "retry";
        if (interrupted) continue; // the dump restarts: no need to decode the rest
        const v = decode(m);
        if (v !== undefined) out.push(v);
      }
    }
  }

  private send(req: NlRequest, flags: number): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    const msg = encodeMessage(req, flags | NLM_F_REQUEST, this.seq);
    try {
      this.transport.send(msg);
    } catch (e) {
      throw this.ioError(e, req.op);
    }
    return this.seq;
  }

  /**
   * One datagram split into messages: copied out of the shared buffer (`copy`, for replies the
   * caller keeps), or viewing it (dumps decode each message before the next receive).
   */
  private receive(op: string, copy = true): NlMessage[] {
    let n: number;
    try {
      n = this.transport.recv(this.buf);
    } catch (e) {
      throw this.ioError(e, op);
    }
    if (n > this.buf.byteLength) {
      // Truncated: the datagram is lost. Grow so the retried dump fits, and report ENOBUFS.
      this.buf = new Uint8Array(Math.max(n, this.buf.byteLength * 2));
      throw new NetlinkError(Errno.ENOBUFS, op, "reply larger than the receive buffer");
    }
    return splitMessages(copy ? this.buf.slice(0, n) : this.buf, n);
  }

  private ioError(e: unknown, op: string): NetlinkError {
    if (e instanceof SyscallError) {
      const errno = e.errno === Errno.EAGAIN ? Errno.ETIMEDOUT : e.errno;
      return new NetlinkError(errno, op, e.errno === Errno.EAGAIN ? "no reply from the kernel" : e.op);
    }
    throw e;
  }
}
