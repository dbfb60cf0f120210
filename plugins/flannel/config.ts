/**
 * The flannel plugin's own network configuration (what the runtime passes on stdin), read once with
 * defaults applied. Unknown keys are ignored here; the delegate is built from the raw object.
 */
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import { fieldKey, isObject, optObject, optString, type JsonObject } from "../shared/conf.ts";

export const DEFAULT_SUBNET_FILE = "/run/flannel/subnet.env";
export const DEFAULT_DATA_DIR = "/var/lib/cni/flannel";

export interface FlannelNetConf {
  /** Network name; always given to the delegate as its `name`. */
  readonly name: string;
  /** The config's cniVersion; "" when absent (then the delegate gets none either). */
  readonly cniVersion: string;
  /** Where flanneld wrote this node's lease. @default "/run/flannel/subnet.env" */
  readonly subnetFile: string;
  /** Where the delegate config of each container is kept for DEL. @default "/var/lib/cni/flannel" */
  readonly dataDir: string;
  /** User keys for the delegate (bridge by default); undefined when absent or null. */
  readonly delegate: JsonObject | undefined;
  /** Base of the delegate's `ipam`; undefined when absent or null. */
  readonly ipam: JsonObject | undefined;
  /** Copied verbatim to the delegate's `runtimeConfig`; undefined when absent or null. */
  readonly runtimeConfig: JsonObject | undefined;
}

const WHERE = "failed to load flannel netconf file: ";

/** Read the plugin config (already JSON-decoded by skel). Wrong types give code 7 naming the key. */
export function parseFlannelConf(config: unknown): FlannelNetConf {
  if (!isObject(config)) {
    throw new CniError(ErrorCode.DecodingFailure, `${WHERE}the network configuration must be a JSON object`);
  }
  const o = { where: WHERE };
  const subnetFile = optString(config, "subnetFile", "", o);
  const dataDir = optString(config, "dataDir", "", o);
  return {
    name: optString(config, "name", "", o),
    cniVersion: optString(config, "cniVersion", "", o),
    // Go keeps the default only when the key is absent; an explicit "" is taken as given. We treat
    // "" like absent: an empty path can only mean "use the default".
    subnetFile: subnetFile || DEFAULT_SUBNET_FILE,
    dataDir: dataDir || DEFAULT_DATA_DIR,
    delegate: optObject(config, "delegate", o),
    ipam: optObject(config, "ipam", o),
    runtimeConfig: optObject(config, "runtimeConfig", o),
  };
}

/**
 * Refuse delegate keys flannel sets itself. Checked case-insensitively, since the delegate plugin
 * decodes its config that way and a "Name" would otherwise override flannel's `name`.
 */
export function checkDelegateKeys(delegate: JsonObject | undefined): void {
  if (!delegate) return;
  const typeKey = fieldKey(delegate, "type");
  if (typeKey !== undefined && typeof delegate[typeKey] !== "string") {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      "'delegate' dictionary, if present, must have (string) 'type' field",
    );
  }
  if (fieldKey(delegate, "name") !== undefined) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      "'delegate' dictionary must not have 'name' field, it'll be set by flannel",
    );
  }
  const mtuKey = fieldKey(delegate, "mtu");
  const mtu = mtuKey === undefined ? undefined : delegate[mtuKey];
  if (mtu !== undefined && mtu !== null) {
    if (typeof mtu !== "number" || !Number.isInteger(mtu) || mtu < 0 || mtu > 65535) {
      throw new CniError(
        ErrorCode.InvalidNetworkConfig,
        `'delegate.${mtuKey}' must be an MTU in bytes, an integer from 0 to 65535, got ${JSON.stringify(mtu)}`,
        "leave it out to use FLANNEL_MTU from subnet.env",
      );
    }
  }
  if (fieldKey(delegate, "ipam") !== undefined) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      "'delegate' dictionary must not have 'ipam' field, it'll be set by flannel",
    );
  }
}
