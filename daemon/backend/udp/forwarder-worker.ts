// The udp backend's forwarder, run in a Worker thread so its blocking poll never stalls the daemon:
// packets the kernel routes into the TUN device go to the peer whose lease covers their destination,
// as UDP datagrams of one IP packet each (flannel's wire format); datagrams from peers go into the
// TUN device. The route table comes from the daemon thread as messages (the eventfd wakes the poll).
//
// Per round: up to TX_READS reads from the TUN device, sent with one sendmmsg; one recvmmsg, written
// to the TUN device. With offloads (see protocol.ts ForwarderInit) a read returns a TCP super-packet
// of up to 64 KiB, cut here into segments sent as one UDP_SEGMENT send per 64 KiB; received
// datagrams arrive coalesced (UDP_GRO) and consecutive segments of one TCP flow are written to the
// TUN device as one super-packet. Buffers live in native memory (libc.allocNative) at fixed addresses.
import { receiveMessageOnPort, parentPort, workerData, type MessagePort } from "node:worker_threads";
import { Errno, errnoName } from "../../../linux/errno.ts";
import * as libc from "../../../linux/ffi/libc.ts";
import { sockaddrIn, SOL_UDP, UDP_GRO, UDP_SEGMENT } from "../../../linux/tun.ts";
import {
  completeChecksum,
  continuesTcp4,
  decrementTtl,
  finishMergedTcp4,
  ICMP_ERROR_MAX,
  IP_DST,
  ipv4Length,
  mergeableTcp4,
  netUnreachable,
  segmentTcp4,
  TCP_FLAGS,
  TCP_PSH,
  tcp4HeaderLength,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_HDR_LEN,
} from "./packet.ts";
import { zeroCounters, type ForwarderInit, type ForwarderStats, type FromWorker, type ToWorker } from "./protocol.ts";
import { RouteTable, type PeerRoute } from "./table.ts";

const init = (workerData as { init: ForwarderInit; port: MessagePort }).init;
const port = (workerData as { init: ForwarderInit; port: MessagePort }).port;

const POLLIN = 1;
const POLLNVAL = 0x20;
const MSG_DONTWAIT = 0x40;
const MMSG = 64; // sizeof(struct mmsghdr) on LP64
const IOV = 16; // sizeof(struct iovec)
const CMSG_SPACE_INT = 24; // CMSG_SPACE(sizeof(int)), also room for UDP_SEGMENT's u16
const MAX_IP = 65536;
/** largest UDP payload of one send (65535 − IP − UDP header) */
const MAX_UDP_PAYLOAD = 65507;
/** segments per UDP_SEGMENT send (the kernel's UDP_MAX_SEGMENTS on older kernels) */
const MAX_GSO_SEGS = 64;
/** largest TCP segment header (IP 60 + TCP 60), rounded */
const HDR_STRIDE = 128;

const TX_READS = 64;
const TX_ARENA = 1 << 20;
const TX_MSGS = 1024;
const TX_IOVS = 4096;
const TX_HDRS = 2048;
const RX_MSGS = init.udpGro ? 16 : 64;
const RX_SLOT = init.udpGro ? MAX_IP : Math.max(2048, Math.ceil((init.mtu + 128) / 64) * 64);
const RX_IOVS = 256;
/** most segments merged into one TUN write */
const MAX_MERGE = 64;

const vhl = init.tunOffload ? VNET_HDR_LEN : 0;
const readMax = init.tunOffload ? VNET_HDR_LEN + MAX_IP : Math.max(init.mtu, 2048);

interface Region {
  readonly n: libc.NativeBuffer;
  readonly dv: DataView;
  readonly u32: Uint32Array;
}

const regions: libc.NativeBuffer[] = [];
function region(size: number): Region {
  const n = libc.allocNative(size);
  regions.push(n);
  return { n, dv: new DataView(n.buffer), u32: new Uint32Array(n.buffer) };
}

/** Store a native address (below 2^53) as a little-endian 64-bit field. */
function setPtr(r: Region, off: number, addr: number): void {
  r.u32[off >>> 2] = addr >>> 0;
  r.u32[(off >>> 2) + 1] = Math.floor(addr / 0x100000000);
}
function setSize(r: Region, off: number, v: number): void {
  r.u32[off >>> 2] = v >>> 0;
  r.u32[(off >>> 2) + 1] = 0;
}

// --- memory -----------------------------------------------------------------------------------
const txArena = region(TX_ARENA);
const txMsgs = region(TX_MSGS * MMSG);
const txIov = region(TX_IOVS * IOV);
const txHdrs = region(TX_HDRS * HDR_STRIDE);
const txCmsg = region(TX_MSGS * CMSG_SPACE_INT);
const rxArena = region(RX_MSGS * RX_SLOT);
const rxMsgs = region(RX_MSGS * MMSG);
const rxIov = region(RX_MSGS * IOV);
const rxCmsg = region(RX_MSGS * CMSG_SPACE_INT);
const wIov = region(RX_IOVS * IOV);
// [0,16) zero vnet header, [16,32) merged vnet header, [32,48) ICMP answer's sockaddr_in, [64,…) ICMP answer
const small = region(64 + ICMP_ERROR_MAX);
const pollfds = region(3 * 8);
let peers = region(16 * 64);
let peerCap = 64;

const ZERO_VNET = small.n.addr;
const MERGED_VNET = small.n.addr + 16;
const ICMP_SA = 32;
const ICMP_OFF = 64;
const ICMP_PER_SECOND = 1000;
let icmpWindow = 0;
let icmpBudget = ICMP_PER_SECOND;

for (let i = 0; i < RX_MSGS; i++) {
  setPtr(rxIov, i * IOV, rxArena.n.addr + i * RX_SLOT);
  setSize(rxIov, i * IOV + 8, RX_SLOT);
  setPtr(rxMsgs, i * MMSG + 16, rxIov.n.addr + i * IOV);
  setSize(rxMsgs, i * MMSG + 24, 1);
}
for (let i = 0; i < TX_MSGS; i++) {
  // each TX message's control buffer: one UDP_SEGMENT cmsg whose value is set per send
  const c = i * CMSG_SPACE_INT;
  setSize(txCmsg, c, 18); // CMSG_LEN(sizeof(__u16)): the kernel insists on this exact length
  txCmsg.dv.setInt32(c + 8, SOL_UDP, true);
  txCmsg.dv.setInt32(c + 12, UDP_SEGMENT, true);
}
pollfds.dv.setInt32(0, init.tunFd, true);
pollfds.dv.setInt16(4, POLLIN, true);
pollfds.dv.setInt32(8, init.sockFd, true);
pollfds.dv.setInt16(12, POLLIN, true);
pollfds.dv.setInt32(16, init.wakeFd, true);
pollfds.dv.setInt16(20, POLLIN, true);

// --- state ------------------------------------------------------------------------------------
const table = new RouteTable();
let routesGen = 0;
const st = zeroCounters();

function stats(): ForwarderStats {
  return { ...st, routesGen, routes: table.size };
}

function post(m: FromWorker): void {
  parentPort?.postMessage(m);
}

function setRoutes(routes: readonly PeerRoute[]): void {
  if (routes.length > peerCap) {
    const old = peers;
    peerCap = Math.max(routes.length, peerCap * 2);
    peers = region(16 * peerCap);
    libc.freeNative(old.n);
    regions.splice(regions.indexOf(old.n), 1);
  }
  const pb = new Uint8Array(peers.n.buffer);
  routes.forEach((r, i) => pb.set(sockaddrIn(r.ip, init.port), i * 16));
  table.set(routes);
}

// --- TUN -> UDP -------------------------------------------------------------------------------
let nMsg = 0;
let nIov = 0;
let nHdr = 0;

/** Append one message of `iovs` iovecs (already written at nIov…) to `peer`, with a UDP_SEGMENT size or 0. */
function addMsg(peerAddr: number, iovs: number, gsoSize: number): void {
  const m = nMsg * MMSG;
  setPtr(txMsgs, m, peerAddr);
  txMsgs.u32[(m + 8) >>> 2] = 16;
  setPtr(txMsgs, m + 16, txIov.n.addr + (nIov - iovs) * IOV);
  setSize(txMsgs, m + 24, iovs);
  if (gsoSize > 0) {
    txCmsg.dv.setUint16(nMsg * CMSG_SPACE_INT + 16, gsoSize, true);
    setPtr(txMsgs, m + 32, txCmsg.n.addr + nMsg * CMSG_SPACE_INT);
    setSize(txMsgs, m + 40, CMSG_SPACE_INT);
  } else {
    setPtr(txMsgs, m + 32, 0);
    setSize(txMsgs, m + 40, 0);
  }
  nMsg++;
}

function addIov(addr: number, len: number): void {
  setPtr(txIov, nIov * IOV, addr);
  setSize(txIov, nIov * IOV + 8, len);
  nIov++;
}

function writeToTun(iovs: number): void {
  const r = libc.rawWritev(init.tunFd, wIov.n.addr, iovs);
  if (r < 0) {
    st.writeErrors++;
    st.lastWriteErrno = -r;
  } else st.tunWrites++;
}

/**
 * Answer a packet no lease covers with ICMP net unreachable, the packet flannel's proxy builds (from
 * flannel0's address, TTL 8). flannel writes it into the TUN device, where the kernel discards it
 * as a martian (its source is a local address); sent on a raw socket it leaves as the host's own
 * output and reaches the pod (or the host process) that sent the offending packet. At most
 * ICMP_PER_SECOND answers a second, as the kernel limits its own ICMP errors.
 */
function answerUnreachable(dv: DataView, off: number, len: number): void {
  if (init.icmpFd < 0) return;
  const now = Date.now();
  if (now - icmpWindow >= 1000) {
    icmpWindow = now;
    icmpBudget = ICMP_PER_SECOND;
  }
  if (icmpBudget <= 0) return;
  const n = netUnreachable(dv, off, len, init.tunAddr, small.dv, ICMP_OFF);
  if (n === 0) return;
  icmpBudget--;
  small.dv.setUint16(ICMP_SA, 2, true); // AF_INET
  small.dv.setUint32(ICMP_SA + 4, small.dv.getUint32(ICMP_OFF + IP_DST));
  const r = libc.rawSendto(init.icmpFd, small.n.addr + ICMP_OFF, n, 0, small.n.addr + ICMP_SA, 16);
  if (r > 0) st.unreachableSent++;
}

/** Queue the packet read at txArena[at, at+n) for its peer. */
function queueRead(at: number, n: number): void {
  const dv = txArena.dv;
  const off = at + vhl;
  const len = n - vhl;
  if (len < 20 || dv.getUint8(off) >> 4 !== 4) {
    // too short, or not IPv4 (the kernel's IPv6 neighbour discovery on the device): dropped
    st.malformed++;
    return;
  }
  const slot = table.lookup(dv.getUint32(off + IP_DST));
  if (slot < 0) {
    st.noRoute++;
    answerUnreachable(dv, off, len);
    return;
  }
  if (!decrementTtl(dv, off)) {
    st.ttlExpired++;
    return;
  }
  const peer = peers.n.addr + slot * 16;
  const base = txArena.n.addr;
  let gsoType = VNET_GSO_NONE;
  let gsoSize = 0;
  if (vhl) {
    gsoType = dv.getUint8(at + 1);
    gsoSize = dv.getUint16(at + 4, true);
    if (gsoType === VNET_GSO_NONE && dv.getUint8(at) & VNET_F_NEEDS_CSUM) {
      if (!completeChecksum(dv, off, len, dv.getUint16(at + 6, true), dv.getUint16(at + 8, true))) {
        st.malformed++;
        return;
      }
    }
  }
  if (gsoType === VNET_GSO_TCPV4 && gsoSize > 0) {
    const hlen = tcp4HeaderLength(dv, off, len);
    if (hlen === 0) {
      st.malformed++;
      return;
    }
    const payload = len - hlen;
    const count = Math.max(1, Math.ceil(payload / gsoSize));
    const stride = hlen + gsoSize;
    const perMsg = init.udpGso ? Math.max(1, Math.min(MAX_GSO_SEGS, Math.floor(MAX_UDP_PAYLOAD / stride))) : 1;
    // room for the whole packet (sized so that any one packet fits after a flush)
    if (nHdr + count > TX_HDRS || nIov + 2 * count > TX_IOVS || nMsg + Math.ceil(count / perMsg) > TX_MSGS) flushTx();
    const hdr0 = nHdr;
    segmentTcp4(dv, off, len, hlen, gsoSize, txHdrs.dv, hdr0 * HDR_STRIDE, HDR_STRIDE);
    nHdr += count;
    for (let i = 0; i < count; i += perMsg) {
      const k = Math.min(perMsg, count - i);
      const first = nIov;
      for (let j = i; j < i + k; j++) {
        addIov(txHdrs.n.addr + (hdr0 + j) * HDR_STRIDE, hlen);
        const segPay = Math.min(gsoSize, payload - j * gsoSize);
        if (segPay > 0) addIov(base + off + hlen + j * gsoSize, segPay);
      }
      addMsg(peer, nIov - first, k > 1 ? stride : 0);
    }
    st.txPackets += count;
    return;
  }
  if (gsoType !== VNET_GSO_NONE) {
    st.malformed++;
    return;
  }
  if (nIov + 1 > TX_IOVS || nMsg + 1 > TX_MSGS) flushTx();
  addIov(base + off, len);
  addMsg(peer, 1, 0);
  st.txPackets++;
}

function flushTx(): void {
  let s = 0;
  while (s < nMsg) {
    const r = libc.rawSendmmsg(init.sockFd, txMsgs.n.addr + s * MMSG, nMsg - s, 0);
    st.txCalls++;
    if (r > 0) s += r;
    else if (r !== -Errno.EINTR) {
      // the message at s failed (e.g. a peer address the kernel refuses): drop it, send the rest
      st.sendErrors++;
      st.lastSendErrno = -r;
      s++;
    }
  }
  nMsg = 0;
  nIov = 0;
  nHdr = 0;
}

/** Read and forward up to TX_READS packets; returns how many were read. */
function tunToUdp(): number {
  let cursor = 0;
  let reads = 0;
  while (reads < TX_READS) {
    if (TX_ARENA - cursor < readMax) break;
    const n = libc.rawRead(init.tunFd, txArena.n.addr + cursor, readMax);
    if (n < 0) {
      if (n !== -Errno.EAGAIN && n !== -Errno.EINTR) {
        st.readErrors++;
        st.lastReadErrno = -n;
        // EBADFD: the device was deleted under us; nothing more will come from this descriptor
        if (n === -Errno.EBADFD || n === -Errno.EBADF)
          throw new Error(`reading the TUN device failed: ${errnoName(-n)} (was it deleted?)`);
      }
      break;
    }
    reads++;
    st.tunReads++;
    queueRead(cursor, n);
    cursor += (n + 63) & ~63;
  }
  if (nMsg > 0) flushTx();
  return reads;
}

// --- UDP -> TUN -------------------------------------------------------------------------------
// The merge in progress: consecutive segments of one TCP flow, as iovecs at wIov[2…].
let mCount = 0;
let mHead = 0;
let mMss = 0;
let mLastOff = 0;
let mLastPay = 0;
let mPayload = 0;
let mPush = false;
let mHlen = 0;

function writeSingle(off: number, len: number): void {
  let k = 0;
  if (vhl) {
    setPtr(wIov, 0, ZERO_VNET);
    setSize(wIov, 8, VNET_HDR_LEN);
    k = 1;
  }
  setPtr(wIov, k * IOV, rxArena.n.addr + off);
  setSize(wIov, k * IOV + 8, len);
  writeToTun(k + 1);
}

function flushMerge(): void {
  if (mCount === 0) return;
  if (mCount === 1) {
    writeSingle(mHead, mHlen + mPayload);
  } else {
    finishMergedTcp4(rxArena.dv, mHead, mPayload, mPush, mMss, small.dv, MERGED_VNET - small.n.addr);
    setPtr(wIov, 0, MERGED_VNET);
    setSize(wIov, 8, VNET_HDR_LEN);
    setPtr(wIov, IOV, rxArena.n.addr + mHead);
    setSize(wIov, IOV + 8, mHlen + mMss);
    writeToTun(mCount + 1);
  }
  mCount = 0;
}

function receivedPacket(off: number, dl: number): void {
  const dv = rxArena.dv;
  const total = ipv4Length(dv, off, dl);
  if (total === 0) {
    st.malformed++;
    return;
  }
  st.rxPackets++;
  if (!decrementTtl(dv, off)) {
    st.ttlExpired++;
    return;
  }
  if (!vhl) {
    const r = libc.rawWrite(init.tunFd, rxArena.n.addr + off, total);
    if (r < 0) {
      st.writeErrors++;
      st.lastWriteErrno = -r;
    } else st.tunWrites++;
    return;
  }
  const pay = mergeableTcp4(dv, off, total);
  if (
    pay > 0 &&
    mCount > 0 &&
    !mPush &&
    mLastPay === mMss &&
    pay <= mMss &&
    mCount < MAX_MERGE &&
    mHlen + mPayload + pay <= 0xffff &&
    continuesTcp4(dv, mLastOff, mLastPay, off)
  ) {
    setPtr(wIov, (mCount + 1) * IOV, rxArena.n.addr + off + (total - pay));
    setSize(wIov, (mCount + 1) * IOV + 8, pay);
    mCount++;
    mLastOff = off;
    mLastPay = pay;
    mPayload += pay;
    if (dv.getUint8(off + 20 + TCP_FLAGS) & TCP_PSH) {
      mPush = true;
      flushMerge();
    }
    return;
  }
  flushMerge();
  if (pay > 0) {
    mCount = 1;
    mHead = off;
    mHlen = total - pay;
    mMss = pay;
    mLastOff = off;
    mLastPay = pay;
    mPayload = pay;
    mPush = (dv.getUint8(off + 20 + TCP_FLAGS) & TCP_PSH) !== 0;
    return;
  }
  writeSingle(off, total);
}

/** Receive one batch of datagrams and write them to the TUN device; returns the messages received. */
function udpToTun(): number {
  if (init.udpGro)
    for (let i = 0; i < RX_MSGS; i++) {
      setPtr(rxMsgs, i * MMSG + 32, rxCmsg.n.addr + i * CMSG_SPACE_INT);
      setSize(rxMsgs, i * MMSG + 40, CMSG_SPACE_INT);
    }
  const m = libc.rawRecvmmsg(init.sockFd, rxMsgs.n.addr, RX_MSGS, MSG_DONTWAIT);
  if (m <= 0) return 0;
  for (let i = 0; i < m; i++) {
    const len = rxMsgs.u32[(i * MMSG + 56) >>> 2] ?? 0;
    let seg = len;
    if (init.udpGro && (rxMsgs.u32[(i * MMSG + 40) >>> 2] ?? 0) >= 20) {
      const c = i * CMSG_SPACE_INT;
      if (rxCmsg.dv.getInt32(c + 8, true) === SOL_UDP && rxCmsg.dv.getInt32(c + 12, true) === UDP_GRO)
        seg = rxCmsg.dv.getInt32(c + 16, true);
    }
    if (seg <= 0) seg = len;
    const base = i * RX_SLOT;
    for (let o = 0; o < len; o += seg) receivedPacket(base + o, Math.min(seg, len - o));
  }
  flushMerge();
  return m;
}

// --- control ----------------------------------------------------------------------------------
let stopping = false;
const wakeBuf = libc.allocNative(8);

function drainControl(): void {
  libc.rawRead(init.wakeFd, wakeBuf.addr, 8);
  for (;;) {
    const got = receiveMessageOnPort(port);
    if (!got) break;
    const msg = got.message as ToWorker;
    if (msg.type === "routes") {
      setRoutes(msg.routes);
      routesGen = msg.gen;
      post({ type: "routes-applied", gen: msg.gen });
    } else if (msg.type === "stats") post({ type: "stats", id: msg.id, stats: stats() });
    else stopping = true;
  }
}

function loop(): void {
  while (!stopping) {
    const r = libc.rawPoll(pollfds.n.addr, 3, 1000);
    if (r < 0 && r !== -Errno.EINTR) throw new Error(`poll failed: ${errnoName(-r)}`);
    for (let f = 0; f < 3; f++) {
      if (pollfds.dv.getInt16(f * 8 + 6, true) & POLLNVAL)
        throw new Error(`poll: descriptor ${pollfds.dv.getInt32(f * 8, true)} is not open`);
    }
    if (r === 0 || (pollfds.dv.getInt16(22, true) & POLLIN) !== 0) drainControl();
    // Stay off poll while packets flow; go back to it (and to control messages) every 64 rounds.
    for (let round = 0; round < 64; round++) {
      if (tunToUdp() + udpToTun() === 0) break;
    }
  }
}

setRoutes(init.routes);
post({ type: "ready" });
loop();
const final = stats();
for (const n of regions) libc.freeNative(n);
libc.freeNative(wakeBuf);
post({ type: "stopped", stats: final });
