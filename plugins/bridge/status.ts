/** bridge STATUS and GC: both forward to the IPAM plugin when there is one (spec 1.1.0). */
import { parseBridgeConf } from "./config.ts";
import type { BridgeCall, BridgeDeps } from "./deps.ts";

export async function bridgeStatus(call: Pick<BridgeCall, "config" | "stdinData">, deps: BridgeDeps): Promise<void> {
  const c = parseBridgeConf(call.config);
  if (c.ipamType !== "") await deps.ipam.status(c.ipamType, call.stdinData);
}

/**
 * GC: the reference bridge has none; we forward to IPAM so host-local can release addresses of
 * attachments that are no longer valid.
 */
export async function bridgeGc(call: Pick<BridgeCall, "config" | "stdinData">, deps: BridgeDeps): Promise<void> {
  const c = parseBridgeConf(call.config);
  if (c.ipamType !== "") await deps.ipam.gc(c.ipamType, call.stdinData);
}
