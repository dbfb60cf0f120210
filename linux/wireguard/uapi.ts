/**
 * The cross-platform WireGuard configuration protocol that userspace implementations
 * (wireguard-go) serve on /var/run/wireguard/<dev>.sock: `set=1` followed by key=value lines and a
 * blank line, `get=1` answered by key=value lines; both end with `errno=N` and a blank line. Keys
 * travel in hex. Text in, text out: no I/O here (uapi-client.ts talks to the socket). Pure module.
 */
import { errnoName } from "../errno.ts";
import { ipBytes, prefixText } from "../../net/ip.ts";
import { keyFromHex, keyToHex } from "./key.ts";
import {
  splitEndpoint,
  type WgDeviceConfig,
  type WgDeviceState,
  type WgPeerConfig,
  type WgPeerState,
} from "./types.ts";

/** The socket directory of userspace WireGuard implementations. */
export const UAPI_SOCKET_DIR = "/var/run/wireguard";

export function uapiSocketPath(dev: string, dir = UAPI_SOCKET_DIR): string {
  return `${dir}/${dev}.sock`;
}

/** A non-zero `errno=` answer. The implementation's own log says more. */
export class UapiError extends Error {
  override readonly name = "UapiError";
  constructor(
    readonly op: string,
    readonly errno: number,
  ) {
    super(`${op}: the WireGuard device answered errno=${errno} (${errnoName(Math.abs(errno))})`);
  }
}

const ZERO_HEX = "0".repeat(64);

function uint(n: number, max: number, what: string): string {
  if (!Number.isInteger(n) || n < 0 || n > max)
    throw new Error(`${what} must be a whole number from 0 to ${max}, got ${n}`);
  return String(n);
}

function endpoint(s: string): string {
  const ep = splitEndpoint(s);
  if (!ep) throw new Error(`endpoint ${JSON.stringify(s)} is not host:port or [v6]:port`);
  ipBytes(ep.host); // an address, not a name: nothing to resolve, nothing to inject
  return s;
}

function cidr(s: string): string {
  const c = prefixText(s);
  return `${c.ip}/${c.prefixLen}`;
}

function peerLines(p: WgPeerConfig): string[] {
  const out = [`public_key=${keyToHex(p.publicKey)}`];
  if (p.remove) return [...out, "remove=true"];
  if (p.updateOnly) out.push("update_only=true");
  if (p.presharedKey !== undefined)
    out.push(`preshared_key=${p.presharedKey === null ? ZERO_HEX : keyToHex(p.presharedKey)}`);
  if (p.endpoint !== undefined) out.push(`endpoint=${endpoint(p.endpoint)}`);
  if (p.persistentKeepalive !== undefined)
    out.push(`persistent_keepalive_interval=${uint(p.persistentKeepalive, 65535, "persistent keepalive interval")}`);
  if (p.replaceAllowedIps) out.push("replace_allowed_ips=true");
  for (const ip of p.allowedIps ?? []) out.push(`allowed_ip=${cidr(ip)}`);
  return out;
}

/** The whole `set=1` request, blank line included. Throws on a value that is not what it claims to be. */
export function encodeSet(cfg: WgDeviceConfig): string {
  const lines = ["set=1"];
  if (cfg.privateKey !== undefined)
    lines.push(`private_key=${cfg.privateKey === null ? ZERO_HEX : keyToHex(cfg.privateKey)}`);
  if (cfg.listenPort !== undefined) lines.push(`listen_port=${uint(cfg.listenPort, 65535, "listen port")}`);
  if (cfg.fwmark !== undefined) lines.push(`fwmark=${uint(cfg.fwmark, 0xffffffff, "fwmark")}`);
  if (cfg.replacePeers) lines.push("replace_peers=true");
  for (const p of cfg.peers ?? []) lines.push(...peerLines(p));
  return `${lines.join("\n")}\n\n`;
}

/** The `get=1` request. */
export const GET_REQUEST = "get=1\n\n";

/** The errno of a complete answer (its last line), or undefined while the answer is incomplete. */
export function answerErrno(text: string): number | undefined {
  if (!text.endsWith("\n\n")) return undefined;
  const m = /(?:^|\n)errno=(-?\d+)\n\n$/.exec(text);
  return m ? Number(m[1]) : undefined;
}

type MutablePeer = { -readonly [K in keyof WgPeerState]: WgPeerState[K] } & { allowedIps: string[] };

/** Decode a `get=1` answer; throws UapiError when it ends in a non-zero errno. */
export function decodeGet(text: string): WgDeviceState {
  const errno = answerErrno(text);
  if (errno === undefined) throw new Error("incomplete answer to get=1 (no errno line)");
  if (errno !== 0) throw new UapiError("get=1", errno);
  let privateKey: string | undefined;
  let listenPort = 0;
  let fwmark = 0;
  const peers: MutablePeer[] = [];
  let peer: MutablePeer | undefined;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("errno=")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) throw new Error(`malformed line in the answer to get=1: ${JSON.stringify(line)}`);
    const k = line.slice(0, eq);
    const v = line.slice(eq + 1);
    if (k === "public_key") {
      peer = {
        publicKey: keyFromHex(v),
        persistentKeepalive: 0,
        lastHandshake: 0,
        rxBytes: 0n,
        txBytes: 0n,
        allowedIps: [],
        protocolVersion: 0,
      };
      peers.push(peer);
      continue;
    }
    if (!peer) {
      if (k === "private_key") privateKey = v === ZERO_HEX ? undefined : keyFromHex(v);
      else if (k === "listen_port") listenPort = Number(v);
      else if (k === "fwmark") fwmark = Number(v);
      continue; // keys a newer implementation adds are ignored
    }
    switch (k) {
      case "preshared_key":
        if (v !== ZERO_HEX) peer.presharedKey = keyFromHex(v);
        break;
      case "endpoint":
        peer.endpoint = v;
        break;
      case "persistent_keepalive_interval":
        peer.persistentKeepalive = Number(v);
        break;
      case "last_handshake_time_sec":
        peer.lastHandshake = Number(v);
        break;
      case "rx_bytes":
        peer.rxBytes = BigInt(v);
        break;
      case "tx_bytes":
        peer.txBytes = BigInt(v);
        break;
      case "allowed_ip":
        peer.allowedIps.push(v);
        break;
      case "protocol_version":
        peer.protocolVersion = Number(v);
        break;
      default:
        break;
    }
  }
  return { ...(privateKey ? { privateKey } : {}), listenPort, fwmark, peers };
}
