/** Turning kernel-layer failures into CNI errors that say what was being done. */
import { CniError, ErrorCode, isCniError } from "../../libcni/types/error.ts";

/** The errno name of a kernel-layer error ("EEXIST", "ENOENT", ...), if it has one. */
export function errnoOf(e: unknown): string | undefined {
  const c = typeof e === "object" && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof c === "string" ? c : undefined;
}

/**
 * A kernel refusal while doing `what`: code 5 (the system failed an operation the config asked
 * for), with the kernel's message. CniErrors pass through unchanged.
 */
export function kernelError(what: string, e: unknown): CniError {
  if (isCniError(e)) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new CniError(ErrorCode.IOFailure, `${what}: ${msg}`);
}
