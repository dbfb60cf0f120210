/** Opening the pod netns with the errors a user can act on. */
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import type { BridgeDeps } from "./deps.ts";
import { errnoOf } from "./errors.ts";
import type { PodNet } from "./kernel.ts";

/** True when opening failed because the netns path does not exist (the reference's NSPathNotExistErr). */
export function isNetnsGone(e: unknown): boolean {
  return errnoOf(e) === "ENOENT";
}

/** Open CNI_NETNS; a missing path is code 3 (no such container), anything else code 4 (bad CNI_NETNS). */
export function openPodOrFail(deps: BridgeDeps, path: string): PodNet {
  try {
    return deps.openPod(path);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    if (isNetnsGone(e)) {
      throw new CniError(
        ErrorCode.UnknownContainer,
        `failed to open netns "${path}": ${why}`,
        "the container's network namespace does not exist (the container is gone)",
      );
    }
    throw new CniError(
      ErrorCode.InvalidEnvironmentVariables,
      `failed to open netns "${path}": ${why}`,
      "CNI_NETNS must be the path of a network namespace, e.g. /var/run/netns/<name>",
    );
  }
}
