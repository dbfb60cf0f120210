/**
 * `FileWriter`: small files that appear under their name complete or not at all, so a process
 * killed while writing leaves neither a truncated file nor a stray temporary one behind. The kernel
 * way (O_TMPFILE, then linkat into place) is linux/unnamed-file.ts (FFI); this module is pure
 * (node:fs), in the leaf so that every layer can depend on the interface: the plugins, libcni's
 * result cache and their unit tests. Its named-temp writer is what filesystems without O_TMPFILE
 * get; it leaves a temp file behind when killed between creating and removing it: such files are
 * named `.<name>.tmp-<pid>-<hex>` and {@link sweepTemps} removes them.
 */
import { closeSync, linkSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export interface FileWriter {
  /**
   * Create `path` holding `data` unless a file of that name exists: false then, and the existing
   * file is left as it is (exclusive like O_CREAT|O_EXCL, against any other process). The name
   * appears with all of `data` or not at all.
   */
  create(path: string, data: string, mode: number): boolean;
  /**
   * Put `data` at `path`, replacing whatever file is there. A reader sees the old content or the new
   * one, never part of either; a writer killed in the middle leaves the old file, the new one, or
   * (for the unnamed writer, between removing the old name and linking the new) none.
   */
  replace(path: string, data: string, mode: number): void;
}

function code(e: unknown): string | undefined {
  const c = typeof e === "object" && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof c === "string" ? c : undefined;
}

function hex(bytes: number): string {
  let s = "";
  for (const b of crypto.getRandomValues(new Uint8Array(bytes))) s += b.toString(16).padStart(2, "0");
  return s;
}

const TEMP = /^\..+\.tmp-(\d+)-[0-9a-f]{8}$/;

/** The temp name the named writer uses for `path`. */
function tempFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${hex(4)}`);
}

/** True for names the named writer gives its temp files. */
export function isTempName(name: string): boolean {
  return TEMP.test(name);
}

function writeTemp(path: string, data: string, mode: number): string {
  const temp = tempFor(path);
  const fd = openSync(temp, "wx", mode);
  let written = false;
  try {
    writeAll(fd, data);
    written = true;
  } finally {
    closeSync(fd);
    if (!written) unlinkSync(temp);
  }
  return temp;
}

/** write(2) until all of `data` (UTF-8) is in the file. */
export function writeAll(fd: number, data: string): void {
  const buf = Buffer.from(data, "utf8");
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

/** Named temp file, then link(2) (exclusive) or rename(2) (replacing) into place, then the temp removed. */
export const namedTempWriter: FileWriter = {
  create(path, data, mode) {
    const temp = writeTemp(path, data, mode);
    try {
      linkSync(temp, path);
      return true;
    } catch (e) {
      if (code(e) === "EEXIST") return false;
      throw e;
    } finally {
      unlinkSync(temp);
    }
  },
  replace(path, data, mode) {
    const temp = writeTemp(path, data, mode);
    try {
      renameSync(temp, path);
    } catch (e) {
      unlinkSync(temp);
      throw e;
    }
  },
};

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return code(e) === "EPERM";
  }
}

/**
 * Remove the named writer's temp files in `dir` whose writer is gone (no such process) or that are
 * at least `minAgeMs` old (a pid can be reused; 0: all of them, right for a caller holding the lock
 * every writer of the directory takes). Returns the names removed; a file already gone or a
 * directory that cannot be read is no error.
 */
export function sweepTemps(dir: string, minAgeMs: number, now = Date.now()): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    try {
      const pid = Number(m[1]);
      if (minAgeMs > 0 && (pid === process.pid || alive(pid)) && now - statSync(path).mtimeMs < minAgeMs) continue;
      unlinkSync(path);
      removed.push(name);
    } catch (e) {
      if (code(e) !== "ENOENT") throw e;
    }
  }
  return removed;
}
