/**
 * Name rules shared by the plugin side (skel) and the runtime side (libcni): container IDs,
 * network names, interface names. Messages and codes are the reference's (tools match on them);
 * details start with the reference's details and then say how to fix the value.
 */
import { CniError, ErrorCode } from "../types/error.ts";

const NAME_CHARS = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const NAME_RULE = "start with a letter or digit, then use only letters, digits, '_', '.' and '-'";

/** Max bytes of a Linux interface name (IFNAMSIZ - 1). */
export const MAX_IFNAME_LENGTH = 15;

/** Empty -> code 3 "missing containerID"; bad characters -> code 4 "invalid characters in containerID". */
export function validateContainerID(id: string): void {
  if (id === "")
    throw new CniError(ErrorCode.UnknownContainer, "missing containerID", "set CNI_CONTAINERID to the container's ID");
  if (!NAME_CHARS.test(id)) {
    throw new CniError(
      ErrorCode.InvalidEnvironmentVariables,
      "invalid characters in containerID",
      `${id} (a container ID must ${NAME_RULE})`,
    );
  }
}

/** Empty -> code 7 "missing network name:"; bad characters -> code 7 "invalid characters found in network name". */
export function validateNetworkName(name: string): void {
  if (name === "")
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      "missing network name:",
      'set "name" in the network configuration',
    );
  if (!NAME_CHARS.test(name)) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      "invalid characters found in network name",
      `${name} (a network name must ${NAME_RULE})`,
    );
  }
}

// Go's unicode.IsSpace: \t \n \v \f \r, space, U+0085, U+00A0 and the Unicode Zs/line/paragraph separators.
const SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

/** Interface name rules of the kernel, all code 4, in the reference's order and wording. */
export function validateInterfaceName(name: string): void {
  const bad = (msg: string, details: string): never => {
    throw new CniError(ErrorCode.InvalidEnvironmentVariables, msg, details);
  };
  if (name === "") bad("interface name is empty", "set CNI_IFNAME, e.g. eth0");
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes > MAX_IFNAME_LENGTH) {
    bad(
      "interface name is too long",
      `interface name should be less than ${MAX_IFNAME_LENGTH + 1} characters; "${name}" has ${bytes}`,
    );
  }
  if (name === "." || name === "..") bad("interface name is . or ..", `"${name}" is reserved; use a name such as eth0`);
  if (name.includes("/") || name.includes(":") || SPACE.test(name)) {
    bad(
      "interface name contains / or : or whitespace characters",
      `${JSON.stringify(name)}: remove the '/', ':' or whitespace`,
    );
  }
}
