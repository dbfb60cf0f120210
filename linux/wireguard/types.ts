/**
 * A WireGuard device's configuration and state, the same for both ways of reaching it: the
 * kernel's generic netlink family (genl.ts) and a userspace implementation's UAPI socket
 * (uapi.ts). Keys are base64 text as wg(8) prints them; endpoints `192.0.2.12:51820` or
 * `[2001:db8::12]:51821`; allowed IPs CIDR text. Pure module.
 */

/** One peer in a set operation; only the fields given are changed. */
export interface WgPeerConfig {
  readonly publicKey: string;
  /** Remove this peer instead of adding/updating it. */
  readonly remove?: boolean;
  /** Only update the peer if it exists; never create it. */
  readonly updateOnly?: boolean;
  /** The pre-shared key; `null` clears it. */
  readonly presharedKey?: string | null;
  readonly endpoint?: string;
  /** Seconds between keepalives; 0 turns them off. */
  readonly persistentKeepalive?: number;
  /** Drop the peer's allowed IPs before adding `allowedIps`. */
  readonly replaceAllowedIps?: boolean;
  readonly allowedIps?: readonly string[];
}

/** A set operation on a device; only the fields given are changed. */
export interface WgDeviceConfig {
  /** The device's private key; `null` removes it. */
  readonly privateKey?: string | null;
  /** UDP port; 0 picks a random one. */
  readonly listenPort?: number;
  /** fwmark of outgoing packets; 0 turns it off. */
  readonly fwmark?: number;
  /** Remove every peer before applying `peers`. */
  readonly replacePeers?: boolean;
  readonly peers?: readonly WgPeerConfig[];
}

export interface WgPeerState {
  readonly publicKey: string;
  /** Absent when the peer has none (all zeros). */
  readonly presharedKey?: string;
  readonly endpoint?: string;
  readonly persistentKeepalive: number;
  /** Seconds since the epoch of the last handshake, 0 = never. */
  readonly lastHandshake: number;
  readonly rxBytes: bigint;
  readonly txBytes: bigint;
  readonly allowedIps: readonly string[];
  readonly protocolVersion: number;
}

export interface WgDeviceState {
  readonly name?: string;
  readonly index?: number;
  readonly privateKey?: string;
  /** The kernel reports it; over UAPI it is derived from the private key by the caller. */
  readonly publicKey?: string;
  readonly listenPort: number;
  readonly fwmark: number;
  readonly peers: readonly WgPeerState[];
}

/** A device reachable for set and get, whichever implementation runs it. */
export interface WgControl {
  configure(cfg: WgDeviceConfig): Promise<void>;
  read(): Promise<WgDeviceState>;
}

/** Split `host:port` / `[v6]:port` endpoint text; undefined when malformed. */
export function splitEndpoint(s: string): { readonly host: string; readonly port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:[\]]+):(\d+)$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { host: m[1] ?? "", port };
}

/** `host:port`, bracketing IPv6 hosts. */
export function joinEndpoint(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
