// The wireguard backend's decisions, pure: which devices a config runs (names, ports, families),
// the lease attributes a node publishes, the WireGuard peer each lease stands for (public key,
// endpoint, allowed IPs, PSK, keepalive), and the set operations that turn a device's peers
// into the wanted ones. No I/O: wireguard-network.ts applies the results.
import { getField, isObject } from "../../libcni/validate/fields.ts";
import { decodeKey } from "../../linux/wireguard/key.ts";
import type { WgPeerConfig, WgPeerState } from "../../linux/wireguard/types.ts";
import { formatCidr, formatIp, parseCidr, parseIp } from "../../net/prefix.ts";
import { describeLease, type Lease, type LeaseAttrs } from "../lease.ts";
import type { WireguardMode, WireguardOptions } from "./wireguard-config.ts";

/** The IPv4 device, and the only one in the single-device modes. */
export const WG_DEVICE = "flannel-wg";
export const WG_DEVICE_V6 = "flannel-wg-v6";

export interface WgDeviceSpec {
  readonly name: string;
  readonly port: number;
  /** The address families whose pod traffic this device carries. */
  readonly families: readonly (4 | 6)[];
}

/** The devices of a config: separate = one per enabled family, else flannel-wg for both. */
export function deviceSpecs(
  o: Pick<WireguardOptions, "mode" | "listenPort" | "listenPortV6">,
  enableIPv4: boolean,
  enableIPv6: boolean,
): WgDeviceSpec[] {
  const families = [...(enableIPv4 ? [4 as const] : []), ...(enableIPv6 ? [6 as const] : [])];
  if (o.mode !== "separate") return families.length ? [{ name: WG_DEVICE, port: o.listenPort, families }] : [];
  return [
    ...(enableIPv4 ? [{ name: WG_DEVICE, port: o.listenPort, families: [4 as const] }] : []),
    ...(enableIPv6 ? [{ name: WG_DEVICE_V6, port: o.listenPortV6, families: [6 as const] }] : []),
  ];
}

/** BackendData / BackendV6Data of a wireguard lease, with flanneld's field names. */
export interface WgLeaseData {
  readonly PublicKey: string;
  readonly Port: number;
}

/**
 * What this node publishes: BackendType "wireguard", its public addresses, and per enabled
 * family {PublicKey, Port}. The port is the one of the device that family's peers must reach:
 * ListenPortV6 for flannel-wg-v6 in separate mode, ListenPort when flannel-wg carries both.
 */
export function wireguardLeaseAttrs(o: {
  readonly publicKey: string;
  readonly options: Pick<WireguardOptions, "mode" | "listenPort" | "listenPortV6">;
  readonly enableIPv4: boolean;
  readonly enableIPv6: boolean;
  readonly publicIP?: string | undefined;
  readonly publicIPv6?: string | undefined;
}): LeaseAttrs {
  const v6Port = o.options.mode === "separate" ? o.options.listenPortV6 : o.options.listenPort;
  return {
    PublicIP: o.publicIP ?? "0.0.0.0",
    ...(o.publicIPv6 && o.enableIPv6 ? { PublicIPv6: o.publicIPv6 } : {}),
    BackendType: "wireguard",
    ...(o.enableIPv4
      ? { BackendData: { PublicKey: o.publicKey, Port: o.options.listenPort } satisfies WgLeaseData }
      : {}),
    ...(o.enableIPv6 ? { BackendV6Data: { PublicKey: o.publicKey, Port: v6Port } satisfies WgLeaseData } : {}),
  };
}

/** PublicKey and Port of a lease's BackendData (Go's case-insensitive keys); Port 0 when absent. */
export function readLeaseData(d: unknown): { readonly publicKey?: string; readonly port: number } {
  if (!isObject(d)) return { port: 0 };
  const k = getField(d, "PublicKey");
  const p = getField(d, "Port");
  const key = typeof k === "string" ? decodeKey(k) : undefined;
  return {
    ...(key instanceof Uint8Array ? { publicKey: Buffer.from(key).toString("base64") } : {}),
    port: typeof p === "number" && Number.isInteger(p) && p > 0 && p <= 65535 ? p : 0,
  };
}

function isPrivate4(ip: string): boolean {
  const [a = 0, b = 0] = ip.split(".").map(Number);
  return a === 10 || (a === 172 && (b & 0xf0) === 16) || (a === 192 && b === 168);
}

function isPrivate6(ip: string): boolean {
  const a = parseIp(ip);
  return a !== undefined && a.family === 6 && a.ip >> 121n === 0x7en; // fc00::/7
}

/**
 * `auto` mode's choice of the address family to reach a peer at, as flanneld makes it: IPv4 when
 * the peer has no IPv6 address or a public IPv4 one we can use; IPv6 when both its and our IPv6
 * addresses are public (not fc00::/7); else IPv4.
 */
export function selectEndpointFamily(
  peerV4: string,
  peerV6: string | undefined,
  ownV4: string | undefined,
  ownV6: string | undefined,
): 4 | 6 {
  if (!peerV6) return 4;
  if (!isPrivate4(peerV4) && ownV4) return 4;
  if (!isPrivate6(peerV6) && ownV6 && !isPrivate6(ownV6)) return 6;
  return 4;
}

/** How one device wants its peers set up. */
export interface PeerContext {
  readonly mode: WireguardMode;
  readonly device: WgDeviceSpec;
  readonly psk?: string;
  readonly keepalive: number;
  /** Our own public key: a lease carrying it is one of ours (e.g. an old one), never a peer. */
  readonly ownPublicKey: string;
  /** Our public addresses, for `auto`. */
  readonly ownV4?: string;
  readonly ownV6?: string;
}

/** A peer as the device should have it. */
export interface DesiredPeer {
  readonly publicKey: string;
  readonly endpoint: string;
  /** Canonical CIDRs, sorted. */
  readonly allowedIps: readonly string[];
  readonly presharedKey?: string;
  readonly keepalive: number;
}

function endpointOf(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** The peer a lease stands for on this device, or why it has none. */
export function peerOf(l: Lease, ctx: PeerContext): DesiredPeer | { readonly skip: string } {
  if (l.attrs.BackendType !== "wireguard")
    return { skip: `backend type is ${JSON.stringify(l.attrs.BackendType ?? "")}, not "wireguard"` };
  const fams = ctx.device.families;
  const v4 = fams.includes(4) ? readLeaseData(l.attrs.BackendData) : undefined;
  const v6 = fams.includes(6) ? readLeaseData(l.attrs.BackendV6Data) : undefined;
  const publicKey = v6?.publicKey ?? v4?.publicKey;
  if (!publicKey) return { skip: "its BackendData has no valid PublicKey" };
  if (publicKey === ctx.ownPublicKey) return { skip: "it carries this node's own public key" };
  const allowed: string[] = [];
  if (fams.includes(4) && l.subnet) allowed.push(formatCidr(l.subnet));
  if (fams.includes(6) && l.subnetV6) allowed.push(formatCidr(l.subnetV6));
  if (allowed.length === 0)
    return { skip: `it has no subnet of the device's address famil${fams.length > 1 ? "ies" : "y"}` };
  let family: 4 | 6;
  if (ctx.mode === "separate") family = fams.includes(4) ? 4 : 6;
  else if (ctx.mode === "ipv4" || ctx.mode === "ipv6") family = ctx.mode === "ipv4" ? 4 : 6;
  else family = selectEndpointFamily(l.attrs.PublicIP, l.attrs.PublicIPv6, ctx.ownV4, ctx.ownV6);
  const ip = family === 4 ? l.attrs.PublicIP : l.attrs.PublicIPv6;
  if (!ip || ip === "0.0.0.0")
    return { skip: `it publishes no IPv${family} address (${family === 4 ? "PublicIP" : "PublicIPv6"})` };
  // One device serves both families in the single-device modes, on ListenPort: flanneld's own
  // nodes publish ListenPortV6 in BackendV6Data even then, so the IPv4 data's port is trusted first.
  const published = ctx.mode === "separate" ? (family === 4 ? v4?.port : v6?.port) : v4?.port || v6?.port;
  const port = published || ctx.device.port;
  return {
    publicKey,
    endpoint: endpointOf(ip, port),
    allowedIps: allowed.sort(),
    ...(ctx.psk ? { presharedKey: ctx.psk } : {}),
    keepalive: ctx.keepalive,
  };
}

/**
 * Every lease's peer, one per public key: a node that holds several leases (an old one not yet
 * expired) is one WireGuard peer allowed all their subnets, reached at the endpoint of the lease
 * seen last. `skipped` says why a lease gives no peer.
 */
export function desiredPeers(
  leases: Iterable<Lease>,
  ctx: PeerContext,
): { peers: Map<string, DesiredPeer>; skipped: { lease: string; why: string }[] } {
  const peers = new Map<string, DesiredPeer>();
  const skipped: { lease: string; why: string }[] = [];
  for (const l of leases) {
    const p = peerOf(l, ctx);
    if ("skip" in p) {
      skipped.push({ lease: describeLease(l), why: p.skip });
      continue;
    }
    const prev = peers.get(p.publicKey);
    peers.set(p.publicKey, prev ? { ...p, allowedIps: [...new Set([...prev.allowedIps, ...p.allowedIps])].sort() } : p);
  }
  return { peers, skipped };
}

function canonical(cidr: string): string {
  const n = parseCidr(cidr);
  return n ? formatCidr(n) : cidr;
}

/** `[v6]:port` with the address in its canonical text (the device may print it another way). */
function normEndpoint(s: string): string {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s);
  const a = m ? parseIp(m[1] ?? "") : undefined;
  return m && a ? `[${formatIp(a.family, a.ip)}]:${m[2]}` : s;
}

/**
 * Set operations that make `actual` (the device's peers) match `desired`: a peer missing or
 * different is (re)written whole with replaced allowed IPs; a peer not wanted is removed.
 * `enforceEndpoint(key)` false keeps an endpoint the device already has (WireGuard follows a peer
 * that roams, and the periodic pass should not undo that); a missing endpoint is always set.
 */
export function diffPeers(
  desired: ReadonlyMap<string, DesiredPeer>,
  actual: readonly WgPeerState[],
  enforceEndpoint: (publicKey: string) => boolean = () => true,
): WgPeerConfig[] {
  const out: WgPeerConfig[] = [];
  const have = new Map(actual.map((p) => [p.publicKey, p]));
  for (const d of desired.values()) {
    const a = have.get(d.publicKey);
    const same =
      a !== undefined &&
      a.endpoint !== undefined &&
      (!enforceEndpoint(d.publicKey) || normEndpoint(a.endpoint) === normEndpoint(d.endpoint)) &&
      [...a.allowedIps].map(canonical).sort().join(",") === d.allowedIps.join(",") &&
      (a.presharedKey ?? "") === (d.presharedKey ?? "") &&
      a.persistentKeepalive === d.keepalive;
    if (same) continue;
    out.push({
      publicKey: d.publicKey,
      endpoint: d.endpoint,
      replaceAllowedIps: true,
      allowedIps: d.allowedIps,
      presharedKey: d.presharedKey ?? null,
      persistentKeepalive: d.keepalive,
    });
  }
  for (const a of actual) if (!desired.has(a.publicKey)) out.push({ publicKey: a.publicKey, remove: true });
  return out;
}
