/** Opening the pod netns with the errors a user can act on. */
import { netnsOpenError } from "../shared/netns-errors.ts";
import type { BridgeDeps } from "./deps.ts";
import type { PodNet } from "./kernel.ts";

export { isNetnsGone } from "../shared/netns-errors.ts";

/** Open CNI_NETNS; a missing path is code 3 (no such container), anything else code 4 (bad CNI_NETNS). */
export function openPodOrFail(deps: BridgeDeps, path: string): PodNet {
  try {
    return deps.openPod(path);
  } catch (e) {
    throw netnsOpenError(path, e);
  }
}
