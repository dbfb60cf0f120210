import { statSync } from "node:fs";
import { join } from "node:path";
import { CniError, ErrorCode } from "../types/error.ts";

/**
 * Find plugin `name` in `paths`: the first `<dir>/<name>` that is a regular file (the executable bit
 * is not checked here; exec reports it). Errors use the reference wording, with the fix added.
 */
export function findInPath(name: string, paths: readonly string[]): string {
  if (name === "")
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      "no plugin name provided",
      'set "type" in the plugin configuration',
    );
  if (name.includes("/")) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `invalid plugin name: ${name}`,
      '"type" must be a bare plugin name, without "/"; the directory comes from CNI_PATH',
    );
  }
  if (paths.length === 0)
    throw new CniError(
      ErrorCode.InvalidEnvironmentVariables,
      "no paths provided",
      "set CNI_PATH to the directories holding the plugins, e.g. CNI_PATH=/opt/cni/bin",
    );
  for (const dir of paths) {
    const full = join(dir, name);
    try {
      if (statSync(full).isFile()) return full;
    } catch {
      // not here; next directory
    }
  }
  throw new CniError(
    ErrorCode.InvalidEnvironmentVariables,
    `failed to find plugin "${name}" in path [${paths.join(" ")}]`,
    "install the plugin there or add its directory to CNI_PATH",
  );
}
