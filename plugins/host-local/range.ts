/**
 * Address ranges and range sets (pure). A range is one subnet with an allocatable window
 * [rangeStart, rangeEnd] and a gateway; a range set is a pool of same-family ranges from which
 * host-local hands out one address. Defaults, checks and messages follow the reference host-local:
 * gateway and rangeStart default to network+1 (the gateway is skipped when
 * allocating), rangeEnd to the last address, minus one for IPv4 (the broadcast address).
 */
import {
  type IP,
  type IPNet,
  compareIP,
  familyBits,
  formatCIDR,
  formatIP,
  ipEqual,
  lastAddress,
  netContains,
  networkAddress,
  nextIP,
} from "./ip.ts";

/** A range as written in the config; every field optional until canonicalised. */
export interface RangeInput {
  readonly subnet?: IPNet | undefined;
  readonly rangeStart?: IP | undefined;
  readonly rangeEnd?: IP | undefined;
  readonly gateway?: IP | undefined;
}

/** A canonical range: every field present, rangeStart <= rangeEnd, both inside the subnet. */
export interface Range {
  readonly subnet: IPNet;
  readonly rangeStart: IP;
  readonly rangeEnd: IP;
  readonly gateway: IP;
}

export type RangeSet = readonly Range[];

/** A range or range set that cannot be used; the message is the reference's text where it has one. */
export class InvalidRangeError extends Error {
  override readonly name = "InvalidRangeError";
}

/**
 * Inside the subnet and within [start, end] (each bound optional). Bounds compare by numeric value
 * even across families, as the reference's ip.Cmp does, so messages name the same culprit.
 */
function inWindow(subnet: IPNet, ip: IP, start: IP | undefined, end: IP | undefined): boolean {
  if (!netContains(subnet, ip)) return false;
  if (start !== undefined && compareIP(ip, start) < 0) return false;
  if (end !== undefined && compareIP(ip, end) > 0) return false;
  return true;
}

/** Fill in defaults and validate one range, in the reference's order of checks. */
export function canonicalizeRange(input: RangeInput): Range {
  const subnet = input.subnet;
  if (subnet === undefined) {
    throw new InvalidRangeError('subnet is missing: every range needs a "subnet" such as "10.1.2.0/24"');
  }
  const maskBits = familyBits(subnet.maskFamily);
  if (subnet.prefix > maskBits - 2)
    throw new InvalidRangeError(`Network ${formatCIDR(subnet)} too small to allocate from`);
  if (subnet.ip.family !== subnet.maskFamily) throw new InvalidRangeError("IPNet IP and Mask version mismatch");
  const network = networkAddress(subnet);
  if (!ipEqual(network, subnet.ip)) {
    throw new InvalidRangeError(
      "Network has host bits set. For a subnet mask of length " +
        `${subnet.prefix} the network address is ${formatIP(network)}`,
    );
  }
  const gateway = input.gateway ?? nextIP(network);
  let rangeStart = nextIP(network);
  if (input.rangeStart !== undefined) {
    // Checked against the configured rangeEnd (if any) like the reference: start > end names RangeStart.
    if (!inWindow(subnet, input.rangeStart, undefined, input.rangeEnd)) {
      throw new InvalidRangeError(`RangeStart ${formatIP(input.rangeStart)} not in network ${formatCIDR(subnet)}`);
    }
    rangeStart = input.rangeStart;
  }
  let rangeEnd = lastAddress(subnet);
  if (subnet.ip.family === 4) rangeEnd = { family: 4, value: rangeEnd.value - 1n };
  if (input.rangeEnd !== undefined) {
    if (!inWindow(subnet, input.rangeEnd, rangeStart, undefined)) {
      throw new InvalidRangeError(`RangeEnd ${formatIP(input.rangeEnd)} not in network ${formatCIDR(subnet)}`);
    }
    rangeEnd = input.rangeEnd;
  }
  return { subnet, rangeStart, rangeEnd, gateway };
}

/** Whether `ip` is an allocatable address of the range (inside the subnet and the window). */
export function rangeContains(r: Range, ip: IP): boolean {
  return inWindow(r.subnet, ip, r.rangeStart, r.rangeEnd);
}

/** Whether two ranges share an address (ranges of different families never overlap). */
export function rangesOverlap(a: Range, b: Range): boolean {
  if (a.rangeStart.family !== b.rangeStart.family) return false;
  return (
    rangeContains(a, b.rangeStart) ||
    rangeContains(a, b.rangeEnd) ||
    rangeContains(b, a.rangeStart) ||
    rangeContains(b, a.rangeEnd)
  );
}

/** "<rangeStart>-<rangeEnd>", the form used in every reference message. */
export function rangeString(r: Range): string {
  return `${formatIP(r.rangeStart)}-${formatIP(r.rangeEnd)}`;
}

export function rangeSetString(s: RangeSet): string {
  return s.map(rangeString).join(",");
}

/** Canonicalise every range of a set and check the set is non-empty, one family and non-overlapping. */
export function canonicalizeRangeSet(inputs: readonly RangeInput[]): RangeSet {
  if (inputs.length === 0) throw new InvalidRangeError("empty range set");
  const out: Range[] = [];
  for (const input of inputs) {
    const r = canonicalizeRange(input);
    const first = out[0];
    if (first !== undefined && first.rangeStart.family !== r.rangeStart.family)
      throw new InvalidRangeError("mixed address families");
    out.push(r);
  }
  for (let i = 0; i < out.length; i++) {
    for (let j = i + 1; j < out.length; j++) {
      const a = out[i] as Range;
      const b = out[j] as Range;
      if (rangesOverlap(a, b)) throw new InvalidRangeError(`subnets ${rangeString(a)} and ${rangeString(b)} overlap`);
    }
  }
  return out;
}

/** The range of the set that contains `ip`, if any. */
export function rangeFor(s: RangeSet, ip: IP): Range | undefined {
  return s.find((r) => rangeContains(r, ip));
}

export function setContains(s: RangeSet, ip: IP): boolean {
  return rangeFor(s, ip) !== undefined;
}

export function setsOverlap(a: RangeSet, b: RangeSet): boolean {
  return a.some((ra) => b.some((rb) => rangesOverlap(ra, rb)));
}
