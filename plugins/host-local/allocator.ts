/**
 * Picking an address from one range set (pure apart from the store it is handed, which the caller
 * has locked). The order is the reference's round-robin: start after the set's last reserved IP
 * (or at the first rangeStart), walk each range to its rangeEnd, jump to the next range's
 * rangeStart (wrapping), skip each range's gateway, and stop when back at the start. A released IP
 * is therefore not handed out again until the whole pool has been walked.
 */
import { type IP, type IPNet, formatIP, ipEqual, nextIP, parseIP } from "./ip.ts";
import { type Range, type RangeSet, rangeContains, rangeFor, rangeSetString, setContains } from "./range.ts";
import { type IpamStore, heldBy } from "./store.ts";

export interface Candidate {
  readonly ip: IP;
  readonly range: Range;
}

/** Every allocatable address of `set` in round-robin order after `lastReserved`. */
export function* roundRobin(set: RangeSet, lastReserved: IP | undefined): Generator<Candidate> {
  const n = set.length;
  if (n === 0) return;
  let idx = 0;
  let cur: IP | undefined;
  let start: IP | undefined;
  if (lastReserved !== undefined && setContains(set, lastReserved)) {
    idx = set.findIndex((r) => rangeContains(r, lastReserved));
    cur = lastReserved;
  }
  for (;;) {
    let r = set[idx] as Range;
    if (cur === undefined) {
      cur = r.rangeStart;
      start = cur;
    } else {
      if (ipEqual(cur, r.rangeEnd)) {
        idx = (idx + 1) % n;
        r = set[idx] as Range;
        cur = r.rangeStart;
      } else {
        cur = nextIP(cur);
      }
      if (start === undefined) start = cur;
      else if (ipEqual(cur, start)) return;
    }
    if (!ipEqual(cur, r.gateway)) yield { ip: cur, range: r };
  }
}

/** Why an allocation failed; `kind` picks the CNI error code, `message` is the reference text. */
export class AllocationError extends Error {
  override readonly name = "AllocationError";
  constructor(
    readonly kind: "not-in-range" | "is-gateway" | "unavailable" | "duplicate" | "exhausted",
    message: string,
  ) {
    super(message);
  }
}

export interface IPConfig {
  /** The reserved address with the prefix length of its subnet. */
  readonly address: IPNet;
  readonly gateway: IP;
}

export interface AllocateRequest {
  readonly containerID: string;
  readonly ifname: string;
  readonly set: RangeSet;
  /** Index of the set in the config, the N of `last_reserved_ip.N`. */
  readonly rangeID: string;
  /** A specific address asked for through CNI_ARGS, args or runtimeConfig. */
  readonly requested?: IP | undefined;
}

function configFor(ip: IP, r: Range): IPConfig {
  return { address: { ip, prefix: r.subnet.prefix, maskFamily: r.subnet.maskFamily }, gateway: r.gateway };
}

function reserve(store: IpamStore, req: AllocateRequest, ip: IP): boolean {
  const text = formatIP(ip);
  if (!store.reserve(text, req.containerID, req.ifname)) return false;
  store.setLastReserved(req.rangeID, text);
  return true;
}

/** Reserve one address of `req.set` in `store` (already locked by the caller); throws AllocationError. */
export function allocate(store: IpamStore, req: AllocateRequest): IPConfig {
  const { requested, set } = req;
  if (requested !== undefined) {
    const r = rangeFor(set, requested);
    if (r === undefined)
      throw new AllocationError("not-in-range", `${formatIP(requested)} not in range set ${rangeSetString(set)}`);
    if (ipEqual(requested, r.gateway))
      throw new AllocationError("is-gateway", `requested ip ${formatIP(requested)} is subnet's gateway`);
    if (!reserve(store, req, requested)) {
      throw new AllocationError(
        "unavailable",
        `requested IP address ${formatIP(requested)} is not available in range set ${rangeSetString(set)}`,
      );
    }
    return configFor(requested, r);
  }
  // the store is read once: the duplicate check and the walk below both use this listing
  const all = store.list();
  for (const held of heldBy(all, req.containerID, req.ifname)) {
    const ip = parseIP(held);
    if (ip !== undefined && setContains(set, ip)) {
      throw new AllocationError(
        "duplicate",
        `${held} has been allocated to ${req.containerID}, duplicate allocation is not allowed`,
      );
    }
  }
  const taken = new Set(all.map((a) => a.ip));
  const lastText = store.lastReserved(req.rangeID);
  const last = lastText === undefined ? undefined : parseIP(lastText);
  for (const c of roundRobin(set, last)) {
    const text = formatIP(c.ip);
    // listed addresses are held (the lock keeps it so); the others may still be taken by a file that is
    // no reservation (say a FIFO named like the address), which the exclusive create finds
    if (!taken.has(text) && reserve(store, req, c.ip)) return configFor(c.ip, c.range);
  }
  throw new AllocationError("exhausted", `no IP addresses available in range set: ${rangeSetString(set)}`);
}
