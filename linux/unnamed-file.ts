/**
 * The kernel's FileWriter: the data is written to an unnamed file in the target's directory
 * (open(O_TMPFILE)) and the finished file gets its name with linkat(2). Until linkat nothing has a
 * name, so a writer killed at any point leaves no temp file and no partial one: the inode dies with
 * its last descriptor. linkat refuses an existing name (EEXIST), which makes `create` exclusive
 * against every other process, O_EXCL writers included. Filesystems without O_TMPFILE get the
 * named-temp writer of file-writer.ts instead.
 */
import { Errno } from "./errno.ts";
import { SyscallError } from "./errors.ts";
import * as libc from "./ffi/libc.ts";
import { type FileWriter, namedTempWriter, writeAll } from "../net/file-writer.ts";
import { dirname } from "node:path";
import { unlinkSync } from "node:fs";

/** open(O_TMPFILE) errors that mean "this filesystem (or kernel) cannot": use named temps there. */
const UNSUPPORTED = new Set<number>([Errno.EOPNOTSUPP, Errno.EISDIR, Errno.EINVAL]);

/** Directories seen refusing O_TMPFILE (asked once per process). */
const noTmpfile = new Set<string>();

/** A written unnamed file in `dir`, or undefined when the filesystem has no O_TMPFILE. */
function unnamed(dir: string, data: string, mode: number): number | undefined {
  if (noTmpfile.has(dir)) return undefined;
  let fd: number;
  try {
    fd = libc.open(dir, libc.O_WRONLY | libc.O_TMPFILE, mode);
  } catch (e) {
    if (e instanceof SyscallError && UNSUPPORTED.has(e.errno)) {
      noTmpfile.add(dir);
      return undefined;
    }
    throw e;
  }
  try {
    writeAll(fd, data);
  } catch (e) {
    libc.close(fd);
    throw e;
  }
  return fd;
}

/** Name the unnamed file `fd` `path`; false when the name is taken. */
function link(fd: number, path: string): boolean {
  try {
    libc.linkat(`/proc/self/fd/${fd}`, path, libc.AT_SYMLINK_FOLLOW);
    return true;
  } catch (e) {
    if (e instanceof SyscallError && e.errno === Errno.EEXIST) return false;
    throw e;
  }
}

export const unnamedFileWriter: FileWriter = {
  create(path, data, mode) {
    const fd = unnamed(dirname(path), data, mode);
    if (fd === undefined) return namedTempWriter.create(path, data, mode);
    try {
      return link(fd, path);
    } finally {
      libc.close(fd);
    }
  },
  replace(path, data, mode) {
    const fd = unnamed(dirname(path), data, mode);
    if (fd === undefined) {
      namedTempWriter.replace(path, data, mode);
      return;
    }
    try {
      // no rename for an unnamed file: drop the old name, then link (again if someone raced us)
      for (let attempt = 0; !link(fd, path); attempt++) {
        if (attempt === 8) throw new SyscallError(Errno.EEXIST, `linkat ${path}`);
        try {
          unlinkSync(path);
        } catch (e) {
          if ((e as { code?: unknown }).code !== "ENOENT") throw e;
        }
      }
    } finally {
      libc.close(fd);
    }
  },
};
