/**
 * A read-only look at host-local's data directory for node tooling (flanneld's /metrics, `weft
 * doctor`): every network directory and its reservations, and the number of addresses a subnet's
 * default range hands out. Nothing is created or locked.
 */
import { readdirSync, type Dirent } from "node:fs";
import { join } from "node:path";
import { DEFAULT_DATA_DIR, readReservations } from "./disk-store.ts";
import { networkAddress, parseCIDR } from "./ip.ts";
import { canonicalizeRange, rangeContains } from "./range.ts";
import type { Allocation } from "./store.ts";

export interface NetworkReservations {
  readonly network: string;
  readonly dir: string;
  readonly reservations: Allocation[];
}

/** Every `<dataDir>/<network>` directory with its reservations; [] when dataDir does not exist. */
export function networkReservations(dataDir: string = DEFAULT_DATA_DIR): NetworkReservations[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dataDir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const out: NetworkReservations[] = [];
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const dir = join(dataDir, e.name);
    out.push({ network: e.name, dir, reservations: readReservations(dir) });
  }
  return out.sort((a, b) => (a.network < b.network ? -1 : a.network > b.network ? 1 : 0));
}

/**
 * Addresses host-local can hand out from `subnet` with the default range (network + 1 to the last
 * address, IPv4 without the broadcast) less the default gateway (network + 1). 0 for a subnet it
 * cannot allocate from. A number, so an IPv6 /64 is approximate (2^64 is past 2^53).
 */
export function defaultPoolSize(subnet: string): number {
  const net = parseCIDR(subnet);
  if (!net) return 0;
  let range: ReturnType<typeof canonicalizeRange>;
  try {
    range = canonicalizeRange({ subnet: { ...net, ip: networkAddress(net) } });
  } catch {
    return 0;
  }
  const size = range.rangeEnd.value - range.rangeStart.value + 1n;
  return Number(rangeContains(range, range.gateway) ? size - 1n : size);
}
