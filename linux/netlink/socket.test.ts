import { describe, expect, it } from "vitest";
import { NetlinkError } from "../errors.ts";
import { NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTI, NLM_F_REQUEST, NLMSG_OVERRUN } from "./constants.ts";
import { FakeTransport, datagram, doneMessage, errorMessage, rawMessage } from "../testing/fake-transport.ts";
import type { NlMessage, NlRequest } from "./message.ts";
import { NetlinkSocket } from "./socket.ts";

const req = (op = "RTM_GETLINK test"): NlRequest => ({ type: 18, flags: 0, op, fill: (w) => w.u32(0) });
const entry = (seq: number, n: number, flags = NLM_F_MULTI): Uint8Array =>
  rawMessage(16, flags, seq, new Uint8Array([n, 0, 0, 0]));
const first = (b: NlMessage): number => b.body[0] ?? -1;

describe("NetlinkSocket", () => {
  it("sends requests with NLM_F_REQUEST|NLM_F_ACK and a fresh sequence number, and returns on the ACK", () => {
    const t = new FakeTransport((m) => [errorMessage(m, 0)]);
    const s = new NetlinkSocket(t, 100);
    s.ack(req());
    s.ack(req());
    expect(t.sent.map((m) => [m.flags & (NLM_F_REQUEST | NLM_F_ACK), m.seq])).toEqual([
      [NLM_F_REQUEST | NLM_F_ACK, 101],
      [NLM_F_REQUEST | NLM_F_ACK, 102],
    ]);
  });

  it("throws NetlinkError with the errno name, the operation and the kernel's extended ack", () => {
    const t = new FakeTransport((m) => [errorMessage(m, 17, "Device already exists")]);
    const s = new NetlinkSocket(t);
    let caught: unknown;
    try {
      s.ack(req("RTM_NEWLINK veth eth0"));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(NetlinkError);
    expect(caught).toMatchObject({
      errno: 17,
      code: "EEXIST",
      op: "RTM_NEWLINK veth eth0",
      extack: "Device already exists",
    });
    expect(String((caught as Error).message)).toBe(
      "RTM_NEWLINK veth eth0: EEXIST (File exists): Device already exists",
    );
  });

  it("skips replies to older requests (stale sequence numbers)", () => {
    const t = new FakeTransport((m) => [datagram(errorMessage({ ...m, seq: m.seq - 1 }, 22)), errorMessage(m, 0)]);
    expect(() => new NetlinkSocket(t).ack(req())).not.toThrow();
  });

  it("returns the single reply of a get, and maps an error reply to NetlinkError", () => {
    let fail = false;
    const t = new FakeTransport((m) =>
      fail ? [errorMessage(m, 19)] : [rawMessage(16, 0, m.seq, new Uint8Array([7, 0, 0, 0]))],
    );
    const s = new NetlinkSocket(t);
    expect(first(s.get(req()))).toBe(7);
    fail = true;
    expect(() => s.get(req("RTM_GETLINK nosuch"))).toThrow(/RTM_GETLINK nosuch: ENODEV/);
  });

  it("reads a dump across several datagrams until NLMSG_DONE", () => {
    const t = new FakeTransport((m) => [
      datagram(entry(m.seq, 1), entry(m.seq, 2)),
      datagram(entry(m.seq, 3), doneMessage(m.seq)),
    ]);
    const s = new NetlinkSocket(t);
    expect(s.dump(req()).map(first)).toEqual([1, 2, 3]);
    expect((t.sent[0]?.flags ?? 0) & NLM_F_DUMP).toBe(NLM_F_DUMP);
  });

  it(
    "dumpEach decodes each message as it arrives, keeps what decode " +
      "returns, and leaves dump()'s messages intact across datagrams",
    () => {
      const t = new FakeTransport((m) => [
        datagram(entry(m.seq, 1), entry(m.seq, 2)),
        datagram(entry(m.seq, 3), doneMessage(m.seq)),
      ]);
      const s = new NetlinkSocket(t);
      expect(s.dumpEach(req(), (m) => (first(m) === 2 ? undefined : first(m) * 10))).toEqual([10, 30]);
      // dump() results outlive later receives into the shared buffer
      const kept = s.dump(req());
      s.dump(req());
      expect(kept.map(first)).toEqual([1, 2, 3]);
    },
  );

  it("dumpEach starts its collection over when the dump restarts", () => {
    let n = 0;
    const t = new FakeTransport((m) =>
      ++n === 1
        ? [datagram(entry(m.seq, 1), entry(m.seq, 2, NLM_F_MULTI | NLM_F_DUMP_INTR), doneMessage(m.seq))]
        : [datagram(entry(m.seq, 7), doneMessage(m.seq))],
    );
    expect(new NetlinkSocket(t).dumpEach(req(), first)).toEqual([7]);
  });

  it("restarts a dump the kernel marks as interrupted (NLM_F_DUMP_INTR)", () => {
    let n = 0;
    const t = new FakeTransport((m) =>
      ++n === 1
        ? [datagram(entry(m.seq, 1, NLM_F_MULTI | NLM_F_DUMP_INTR), doneMessage(m.seq))]
        : [datagram(entry(m.seq, 9), doneMessage(m.seq))],
    );
    expect(new NetlinkSocket(t).dump(req()).map(first)).toEqual([9]);
    expect(t.sent).toHaveLength(2);
  });

  it("restarts a dump after ENOBUFS and after an overrun message", () => {
    let n = 0;
    const t = new FakeTransport((m) => {
      n++;
      if (n === 1) return [105];
      if (n === 2) return [rawMessage(NLMSG_OVERRUN, 0, m.seq, new Uint8Array(4))];
      return [datagram(entry(m.seq, 5), doneMessage(m.seq))];
    });
    expect(new NetlinkSocket(t).dump(req()).map(first)).toEqual([5]);
    expect(t.sent).toHaveLength(3);
  });

  it("gives up on a dump that never settles with EAGAIN", () => {
    const t = new FakeTransport((m) => [datagram(entry(m.seq, 1, NLM_F_MULTI | NLM_F_DUMP_INTR), doneMessage(m.seq))]);
    expect(() => new NetlinkSocket(t).dump(req())).toThrow(/dump kept changing/);
  });

  it("reports an error carried by NLMSG_DONE", () => {
    const t = new FakeTransport((m) => [
      rawMessage(3, NLM_F_MULTI, m.seq, new Uint8Array(new Int32Array([-95]).buffer)),
    ]);
    expect(() => new NetlinkSocket(t).dump(req())).toThrow(/EOPNOTSUPP/);
  });

  it("grows its buffer and retries a dump whose datagram was truncated", () => {
    const big = new Uint8Array(70_000);
    let n = 0;
    const t = new FakeTransport((m) => (++n === 1 ? [big] : [datagram(entry(m.seq, 4), doneMessage(m.seq))]));
    expect(new NetlinkSocket(t).dump(req()).map(first)).toEqual([4]);
  });

  it("turns a receive timeout into ETIMEDOUT naming the operation", () => {
    const t = new FakeTransport(() => [11]);
    expect(() => new NetlinkSocket(t).ack(req("RTM_NEWROUTE 10.0.0.0/8"))).toThrow(
      /RTM_NEWROUTE 10.0.0.0\/8: ETIMEDOUT.*no reply from the kernel/,
    );
  });

  it("closes its transport", () => {
    const t = new FakeTransport(() => []);
    new NetlinkSocket(t).close();
    expect(t.closed).toBe(true);
  });
});
