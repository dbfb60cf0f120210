// The wireguard backend's keys in the network config's "Backend" object, with flanneld's defaults
// and its case-insensitive key matching: ListenPort (51820), ListenPortV6 (51821), PSK,
// PersistentKeepaliveInterval (seconds, 0 = off) and Mode (separate, auto, ipv4, ipv6). MTU is
// the common Backend.MTU (config.ts). Errors name the key, the value and the fix.
import { getField } from "../../libcni/validate/fields.ts";
import { decodeKey } from "../../linux/wireguard/key.ts";
import { ConfigError, type BackendConfig } from "../config.ts";

/**
 * How the address families map to devices: `separate` runs flannel-wg (IPv4) and flannel-wg-v6
 * (IPv6); the others run both families through flannel-wg and pick the peer address family:
 * `ipv4` / `ipv6` always that one, `auto` per peer (see selectEndpointFamily).
 */
export type WireguardMode = "separate" | "auto" | "ipv4" | "ipv6";
export const WIREGUARD_MODES: readonly WireguardMode[] = ["separate", "auto", "ipv4", "ipv6"];

export interface WireguardOptions {
  readonly listenPort: number;
  readonly listenPortV6: number;
  /** Pre-shared key (base64) added to every peer. */
  readonly psk?: string;
  /** PersistentKeepaliveInterval in seconds; 0 = off. */
  readonly keepalive: number;
  readonly mode: WireguardMode;
}

export const WIREGUARD_DEFAULTS = { listenPort: 51820, listenPortV6: 51821, keepalive: 0, mode: "separate" } as const;

const WHERE = "network config";

function fail(key: string, what: string, v: unknown): never {
  throw new ConfigError(`Backend.${key}`, `${WHERE}: "Backend.${key}" ${what}, got ${JSON.stringify(v)}`);
}

function wholeNumber(
  raw: Readonly<Record<string, unknown>>,
  key: string,
  def: number,
  min: number,
  max: number,
  what: string,
): number {
  const v = getField(raw, key);
  if (v === undefined || v === null) return def;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
    return fail(key, `must be ${what} (a whole number from ${min} to ${max})`, v);
  return v;
}

/** The wireguard keys of `backend.raw`; throws ConfigError naming the bad key. */
export function wireguardOptions(backend: Pick<BackendConfig, "raw">): WireguardOptions {
  const raw = backend.raw;
  const listenPort = wholeNumber(raw, "ListenPort", WIREGUARD_DEFAULTS.listenPort, 1, 65535, "a UDP port");
  const listenPortV6 = wholeNumber(raw, "ListenPortV6", WIREGUARD_DEFAULTS.listenPortV6, 1, 65535, "a UDP port");
  const keepalive = wholeNumber(
    raw,
    "PersistentKeepaliveInterval",
    WIREGUARD_DEFAULTS.keepalive,
    0,
    65535,
    "seconds between keepalives, 0 for none",
  );
  const m = getField(raw, "Mode");
  let mode: WireguardMode = WIREGUARD_DEFAULTS.mode;
  if (m !== undefined && m !== null && m !== "") {
    if (typeof m !== "string" || !(WIREGUARD_MODES as readonly string[]).includes(m)) {
      fail("Mode", `must be one of ${WIREGUARD_MODES.map((x) => `"${x}"`).join(", ")} ("separate" when unset)`, m);
    }
    mode = m as WireguardMode;
  }
  const p = getField(raw, "PSK");
  let psk: string | undefined;
  if (p !== undefined && p !== null && p !== "") {
    const k = typeof p === "string" ? decodeKey(p) : "it must be a string";
    if (typeof k === "string")
      fail(
        "PSK",
        `is not a WireGuard pre-shared key (${k}); generate one with \`wg genpsk\``,
        typeof p === "string" ? `${p.slice(0, 4)}…` : p,
      );
    psk = Buffer.from(k).toString("base64");
  }
  return { listenPort, listenPortV6, keepalive, mode, ...(psk ? { psk } : {}) };
}
