/** Which socket the flannel exec relays its call to. Pure (unit-tested on Node). */
import { dirname, join } from "node:path";
import { getField, isObject } from "../../libcni/validate/keys.ts";

/** The socket flanneld serves beside a subnet file, by default /run/flannel/cni.sock. */
export const SOCKET_NAME = "cni.sock";
const DEFAULT_SUBNET_FILE = "/run/flannel/subnet.env";

/**
 * The socket to try: WEFT_CNI_SOCKET when set ("" turns the relay off), else `cni.sock` beside the
 * config's subnetFile (read as the plugin reads its config). undefined: do not relay.
 */
export function socketPath(env: Readonly<Record<string, string | undefined>>, stdin: string): string | undefined {
  const forced = env["WEFT_CNI_SOCKET"];
  if (forced !== undefined) return forced === "" ? undefined : forced;
  let conf: unknown;
  try {
    conf = JSON.parse(stdin);
  } catch {
    return undefined;
  }
  if (!isObject(conf)) return undefined;
  const file = getField(conf, "subnetFile");
  if (file === undefined || file === null || file === "") return join(dirname(DEFAULT_SUBNET_FILE), SOCKET_NAME);
  return typeof file === "string" ? join(dirname(file), SOCKET_NAME) : undefined;
}
