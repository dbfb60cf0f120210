/**
 * The bridge plugin's network configuration: every key of the reference plugin, read once with
 * defaults applied, validated with messages that name the key. Keys match case-insensitively, as
 * Go's decoder matches them.
 */
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import { parseCniArgs } from "../shared/cni-args.ts";
import {
  field,
  isObject,
  jsonType,
  optArray,
  optBool,
  optInt,
  optObject,
  optString,
  type JsonObject,
} from "../shared/conf.ts";

export type IpMasqBackend = "iptables" | "nftables";

/** DNS settings from the config (each list present only when given). */
export interface DnsConf {
  readonly nameservers?: readonly string[];
  readonly domain?: string;
  readonly search?: readonly string[];
  readonly options?: readonly string[];
}

export interface BridgeConf {
  readonly name: string;
  /** The config's cniVersion ("" = 0.1.0). */
  readonly cniVersion: string;
  /** Bridge device name. @default "cni0" */
  readonly bridge: string;
  /** Put the gateway address on the bridge. Forced on by isDefaultGateway. @default false */
  readonly isGateway: boolean;
  /** Add a default route via the gateway in the pod. @default false */
  readonly isDefaultGateway: boolean;
  /** Replace a different gateway address already on the bridge. @default false */
  readonly forceAddress: boolean;
  /** Masquerade traffic from the pod leaving its subnet. @default false */
  readonly ipMasq: boolean;
  /** undefined = iptables, unless only nftables is available. */
  readonly ipMasqBackend: string | undefined;
  /** MTU of bridge and veth; 0 = kernel default. @default 0 */
  readonly mtu: number;
  readonly hairpinMode: boolean;
  readonly promiscMode: boolean;
  /** VLAN tag of the pod port; 0 = none. */
  readonly vlan: number;
  /** Trunk VIDs (sorted, unique); undefined when vlanTrunk is absent. */
  readonly vlanTrunk: readonly number[] | undefined;
  readonly preserveDefaultVlan: boolean;
  readonly macspoofchk: boolean;
  readonly enabledad: boolean;
  readonly disableContainerInterface: boolean;
  readonly portIsolation: boolean;
  /** ipam.type; "" = layer 2 only. */
  readonly ipamType: string;
  /** Config dns, only when one of its fields is set (then it overrides the IPAM dns). */
  readonly dns: DnsConf | undefined;
  /** MAC for the pod interface: runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC. */
  readonly mac: string | undefined;
}

const WHERE = "failed to load netconf: ";
const O = { where: WHERE };

function fail(msg: string, details = ""): never {
  throw new CniError(ErrorCode.InvalidNetworkConfig, msg, details);
}

/** Read and validate the config (as decoded by skel) and CNI_ARGS. */
export function parseBridgeConf(config: unknown, cniArgs = ""): BridgeConf {
  if (!isObject(config)) fail(`${WHERE}the network configuration must be a JSON object`);
  const vlan = optInt(config, "vlan", 0, O);
  if (vlan < 0 || vlan > 4094) fail(`invalid VLAN ID ${vlan} (must be between 0 and 4094)`);
  const ipam = optObject(config, "ipam", O) ?? {};
  const isDefaultGateway = optBool(config, "isDefaultGateway", false, O);
  return {
    name: optString(config, "name", "", O),
    cniVersion: optString(config, "cniVersion", "", O),
    bridge: optString(config, "bridge", "", O) || "cni0",
    isGateway: optBool(config, "isGateway", false, O) || isDefaultGateway,
    isDefaultGateway,
    forceAddress: optBool(config, "forceAddress", false, O),
    ipMasq: optBool(config, "ipMasq", false, O),
    ipMasqBackend: field(config, "ipMasqBackend") === undefined ? undefined : optString(config, "ipMasqBackend", "", O),
    mtu: optInt(config, "mtu", 0, O),
    hairpinMode: optBool(config, "hairpinMode", false, O),
    promiscMode: optBool(config, "promiscMode", false, O),
    vlan,
    vlanTrunk: readTrunk(optArray(config, "vlanTrunk", O)),
    preserveDefaultVlan: optBool(config, "preserveDefaultVlan", false, O),
    macspoofchk: optBool(config, "macspoofchk", false, O),
    enabledad: optBool(config, "enabledad", false, O),
    disableContainerInterface: optBool(config, "disableContainerInterface", false, O),
    portIsolation: optBool(config, "portIsolation", false, O),
    ipamType: optString(ipam, "type", "", O),
    dns: readDns(optObject(config, "dns", O)),
    mac: readMac(config, cniArgs),
  };
}

/** Trunk entries: {id} or {minID, maxID}; same checks and messages as the reference. */
export function readTrunk(trunk: readonly unknown[] | undefined): readonly number[] | undefined {
  if (trunk === undefined) return undefined;
  const vids = new Set<number>();
  const bad = (what: string): never => fail(`incorrect trunk ${what} parameter`);
  trunk.forEach((item, i) => {
    if (!isObject(item)) fail(`${WHERE}'vlanTrunk[${i}]' must be an object, got ${jsonType(item)}`);
    const o = { where: `${WHERE}vlanTrunk[${i}]: ` };
    const min = field(item, "minID") == null ? undefined : optInt(item, "minID", 0, o);
    const max = field(item, "maxID") == null ? undefined : optInt(item, "maxID", 0, o);
    const id = field(item, "id") == null ? undefined : optInt(item, "id", 0, o);
    if (min !== undefined && max !== undefined) {
      if (min <= 0 || min > 4094) bad("minID");
      if (max <= 0 || max > 4094) bad("maxID");
      if (max < min) fail("minID is greater than maxID in trunk parameter");
      for (let v = min; v <= max; v++) vids.add(v);
    } else if (max !== undefined) {
      fail("minID and maxID should be configured simultaneously, minID is missing");
    } else if (min !== undefined) {
      fail("minID and maxID should be configured simultaneously, maxID is missing");
    }
    if (id !== undefined) {
      if (id <= 0 || id > 4094) bad("id");
      vids.add(id);
    }
  });
  return [...vids].sort((a, b) => a - b);
}

function readDns(dns: JsonObject | undefined): DnsConf | undefined {
  if (!dns) return undefined;
  const list = (key: string): readonly string[] | undefined => {
    const v = optArray(dns, key, { where: `${WHERE}dns.` });
    if (v === undefined) return undefined;
    if (!v.every((x) => typeof x === "string")) fail(`${WHERE}'dns.${key}' must be a list of strings`);
    return v as readonly string[];
  };
  const nameservers = list("nameservers");
  const search = list("search");
  const options = list("options");
  const domain = optString(dns, "domain", "", { where: `${WHERE}dns.` });
  if (!nameservers && !search && !options && domain === "") return undefined;
  return {
    ...(nameservers ? { nameservers } : {}),
    ...(domain !== "" ? { domain } : {}),
    ...(search ? { search } : {}),
    ...(options ? { options } : {}),
  };
}

const MAC_RE = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/;

/** Normalise a MAC to lower-case colon form; code 7 naming its source when it is not 6 bytes. */
export function normalizeMac(mac: string, source: string): string {
  if (!MAC_RE.test(mac)) {
    fail(`invalid MAC address ${JSON.stringify(mac)} in ${source}`, "use six hex bytes, e.g. 0a:58:0a:f4:01:05");
  }
  return mac.toLowerCase().replaceAll("-", ":");
}

function readMac(config: JsonObject, cniArgs: string): string | undefined {
  const rc = optObject(config, "runtimeConfig", O);
  const rcMac = rc ? optString(rc, "mac", "", { where: `${WHERE}runtimeConfig.` }) : "";
  if (rcMac !== "") return normalizeMac(rcMac, "runtimeConfig.mac");
  const args = optObject(config, "args", O);
  const cni = args ? optObject(args, "cni", { where: `${WHERE}args.` }) : undefined;
  const argsMac = cni ? optString(cni, "mac", "", { where: `${WHERE}args.cni.` }) : "";
  if (argsMac !== "") return normalizeMac(argsMac, "args.cni.mac");
  const envMac = parseCniArgs(cniArgs, ["MAC"]).get("MAC") ?? "";
  if (envMac !== "") return normalizeMac(envMac, "CNI_ARGS MAC");
  return undefined;
}

/** Checks the reference makes only on ADD (so DEL of such a config still cleans up). */
/** The kernel's interface name buffer, terminating NUL included. */
const IFNAMSIZ = 16;

export function checkForAdd(c: BridgeConf): void {
  // ADD only: DEL of an attachment must work whatever the mtu says (the reference ignores it there)
  if (c.mtu !== 0 && (c.mtu < 68 || c.mtu > 65535))
    fail(`invalid mtu ${c.mtu}`, "mtu must be 0 (kernel default) or between 68 and 65535");
  if (Buffer.byteLength(c.bridge) > IFNAMSIZ - 1) {
    // the reference's text (the kernel's ERANGE when it creates the bridge, before it opens the
    // pod netns), but as the config error it is
    fail(
      `failed to create bridge "${c.bridge}": could not add "${c.bridge}": numerical result out of range`,
      `'bridge' must be a Linux interface name of at most ${IFNAMSIZ - 1} bytes`,
    );
  }
  if (c.ipamType !== "" && c.disableContainerInterface) {
    fail(
      "cannot use IPAM when DisableContainerInterface flag is set",
      "remove 'ipam' or set disableContainerInterface to false",
    );
  }
  if (c.hairpinMode && c.promiscMode) {
    fail(
      "cannot set hairpin mode and promiscuous mode at the same time",
      "set only one of hairpinMode and promiscMode",
    );
  }
  if (
    c.ipMasq &&
    c.ipamType !== "" &&
    c.ipMasqBackend !== undefined &&
    c.ipMasqBackend !== "iptables" &&
    c.ipMasqBackend !== "nftables"
  ) {
    fail(
      `unknown ipmasq backend ${JSON.stringify(c.ipMasqBackend)}`,
      'use "iptables" or "nftables", or leave ipMasqBackend out',
    );
  }
}
