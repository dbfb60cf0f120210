/**
 * Reading the small state files plugins and flanneld keep (subnet.env, saved delegate configs,
 * host-local's reservations, resolv.conf) without trusting what is on disk: only a regular file is
 * read, it is opened O_NONBLOCK so that a FIFO (or a device) put in its place can never block the
 * call, and never more than a size cap is read. Anything else is a StateFileError saying what the
 * path is and what to do. node:fs only, so every layer can use it.
 */
import { type Stats, closeSync, constants, fstatSync, openSync, readSync } from "node:fs";

/** The default cap: state files are a few hundred bytes; a config a runtime passes is below 1 MiB. */
export const STATE_FILE_MAX_BYTES = 1024 * 1024;

/** A state file that cannot be used as one (not a regular file, or too large); `path` is the file. */
export class StateFileError extends Error {
  override readonly name = "StateFileError";
  readonly code = "EBADSTATE";
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** What a non-regular file is, in words ("a FIFO", "a directory", ...). */
export function fileKind(st: Stats): string {
  if (st.isFile()) return "a regular file";
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

function notRegular(path: string, st: Stats): StateFileError {
  return new StateFileError(
    path,
    `${path} is ${fileKind(st)}, not a regular file: remove it or point the config elsewhere`,
  );
}

/**
 * The content of the regular file at `path` (symbolic links followed), as UTF-8 text. Throws the
 * fs error (code ENOENT, EACCES, ...) when it cannot be opened, StateFileError when it is not a
 * regular file or holds more than `maxBytes`.
 */
export function readStateFile(path: string, maxBytes = STATE_FILE_MAX_BYTES): string {
  return readStateBytes(path, maxBytes).toString("utf8");
}

/** {@link readStateFile} as bytes. */
export function readStateBytes(path: string, maxBytes = STATE_FILE_MAX_BYTES): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw notRegular(path, st);
    // st.size is a hint (the file may change while read): read to EOF, never past the cap
    const chunk = Buffer.allocUnsafe(Math.min(maxBytes + 1, Math.max(st.size + 1, 4096)));
    const parts: Buffer[] = [];
    let total = 0;
    for (;;) {
      const got = readSync(fd, chunk, 0, chunk.length, null);
      if (got === 0) break;
      total += got;
      if (total > maxBytes) {
        throw new StateFileError(path, `${path} holds more than the ${maxBytes} bytes such a file may hold`);
      }
      parts.push(Buffer.from(chunk.subarray(0, got)));
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  } finally {
    closeSync(fd);
  }
}

/**
 * Open `path` for a lock (created when missing, as `open(O_CREAT|O_RDONLY)` does) without ever
 * blocking: O_NONBLOCK, then refused unless it is a regular file. Returns the fd.
 */
export function openLockFile(path: string, mode: number): number {
  const fd = openSync(path, constants.O_RDONLY | constants.O_CREAT | constants.O_NONBLOCK, mode);
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  if (!st.isFile()) {
    closeSync(fd);
    throw notRegular(path, st);
  }
  return fd;
}
