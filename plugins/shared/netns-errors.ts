/** The CNI error for a pod netns that could not be opened: what a user can act on. */
import { CniError, ErrorCode } from "../../libcni/types/error.ts";

/** True when opening failed because the netns path does not exist (the reference's NSPathNotExistErr). */
export function isNetnsGone(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === "ENOENT";
}

/** A missing path is code 3 (no such container), anything else code 4 (bad CNI_NETNS). */
export function netnsOpenError(path: string, e: unknown): CniError {
  const why = e instanceof Error ? e.message : String(e);
  if (isNetnsGone(e)) {
    return new CniError(
      ErrorCode.UnknownContainer,
      `failed to open netns "${path}": ${why}`,
      "the container's network namespace does not exist (the container is gone)",
    );
  }
  return new CniError(
    ErrorCode.InvalidEnvironmentVariables,
    `failed to open netns "${path}": ${why}`,
    "CNI_NETNS must be the path of a network namespace, e.g. /var/run/netns/<name>",
  );
}
