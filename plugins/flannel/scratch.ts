/**
 * The delegate config of each container, kept at `<dataDir>/<containerID>` between ADD and DEL so DEL
 * works without subnet.env (flanneld down, lease changed). Written atomically: temp file, fsync,
 * rename, fsync of the directory; a crash leaves the old file or the new one, never a truncated one.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { randomHex } from "../shared/random.ts";

/** Storage of saved delegate configs, by container ID. */
export interface ScratchStore {
  /** Save the exact bytes sent to the delegate. */
  save(containerID: string, bytes: string): void;
  /** The saved bytes, or undefined when there is no file. */
  load(containerID: string): string | undefined;
  /** Remove the file; absent is fine. */
  remove(containerID: string): void;
}

function isNotFound(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === "ENOENT";
}

export class DiskScratch implements ScratchStore {
  constructor(readonly dataDir: string) {}

  path(containerID: string): string {
    return join(this.dataDir, containerID);
  }

  save(containerID: string, bytes: string): void {
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    const final = this.path(containerID);
    const tmp = `${final}.tmp-${process.pid}-${randomHex(4)}`;
    try {
      const fd = openSync(tmp, "wx", 0o600);
      try {
        const buf = Buffer.from(bytes, "utf8");
        let off = 0;
        while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, final);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    syncDir(this.dataDir);
  }

  load(containerID: string): string | undefined {
    try {
      return readFileSync(this.path(containerID), "utf8");
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  remove(containerID: string): void {
    rmSync(this.path(containerID), { force: true });
  }
}

/** fsync a directory so a rename in it survives a crash; best effort (some filesystems refuse). */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // durability of the rename only; the data itself is already synced
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
