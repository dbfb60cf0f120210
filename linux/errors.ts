/**
 * Typed errors of the kernel layer. Each carries a stable `code` (the errno name, or a
 * Weft-specific code) so callers can map them to CNI codes without parsing messages.
 * Pure module: no FFI, safe to import from unit-tested code.
 */
import { errnoMessage, errnoName } from "./errno.ts";

/** A failed libc call: `op` names the call and its subject, e.g. `open /run/netns/x`. */
export class SyscallError extends Error {
  override readonly name: string = "SyscallError";
  readonly code: string;
  constructor(
    readonly errno: number,
    readonly op: string,
  ) {
    super(`${op}: ${errnoName(errno)} (${errnoMessage(errno)})`);
    this.code = errnoName(errno);
  }
}

/**
 * A request the kernel answered with an error, e.g. `RTM_NEWLINK veth eth0: EEXIST (File exists)`.
 * `extack` is the kernel's extended-ack message when it sent one.
 */
export class NetlinkError extends Error {
  override readonly name: string = "NetlinkError";
  readonly code: string;
  constructor(
    readonly errno: number,
    readonly op: string,
    readonly extack = "",
  ) {
    super(`${op}: ${errnoName(errno)} (${errnoMessage(errno)})${extack ? `: ${extack}` : ""}`);
    this.code = errnoName(errno);
  }
}

/** A link looked up by name or index that does not exist (errno ENODEV). */
export class LinkNotFoundError extends NetlinkError {
  override readonly name = "LinkNotFoundError";
  constructor(readonly link: string | number) {
    super(19, typeof link === "number" ? `link index ${link}` : `link "${link}"`);
  }
}

/** The netns path does not exist (ENOENT); the reference's NSPathNotExistErr. */
export class NetnsNotFoundError extends Error {
  override readonly name = "NetnsNotFoundError";
  readonly code = "ENOENT";
  constructor(readonly path: string) {
    super(`network namespace "${path}" does not exist`);
  }
}

/** The path exists but is not a network namespace (not on nsfs/procfs). */
export class NotNetnsError extends Error {
  override readonly name = "NotNetnsError";
  readonly code = "ENOTNETNS";
  constructor(
    readonly path: string,
    readonly fsType: number,
  ) {
    super(
      `"${path}" is not a network namespace (filesystem type 0x${fsType.toString(16)}); ` +
        "pass a /var/run/netns/<name> or /proc/<pid>/ns/net path",
    );
  }
}

/** Returning to the original namespace failed; the thread is in an unknown netns. */
export class NetnsRestoreError extends Error {
  override readonly name = "NetnsRestoreError";
  readonly code = "ENETNSRESTORE";
  constructor(override readonly cause: unknown) {
    super(
      `failed to return to the original network namespace: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
  }
}

/** True for errors carrying the given errno name, from any kernel-layer error type. */
export function hasErrnoCode(e: unknown, code: string): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === code;
}
