/**
 * The delegate config of each container, kept at `<dataDir>/<containerID>` between ADD and DEL so DEL
 * works without subnet.env (flanneld down, lease changed). A file appears complete or not at all
 * (the injected FileWriter: written unnamed and linked into place in the binary), so a plugin killed
 * while saving leaves no temp file and no truncated config; a DEL that finds none, or one it cannot
 * use, rebuilds the delegate config instead (commands.ts). No fsync, as the reference: a power cut
 * ends the pods these files describe, and DEL copes with a lost one.
 */
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type FileWriter, namedTempWriter, sweepTemps } from "../../net/file-writer.ts";
import { readStateFile } from "../../net/state-file.ts";

/** Storage of saved delegate configs, by container ID. */
export interface ScratchStore {
  /** Save the exact bytes sent to the delegate. */
  save(containerID: string, bytes: string): void;
  /**
   * The saved bytes, or undefined when there is no file; throws when there is one that cannot be
   * read as a saved config (not a regular file, too large, unreadable).
   */
  load(containerID: string): string | undefined;
  /** Remove the file; absent is fine. */
  remove(containerID: string): void;
  /** The names of every entry of the directory (saved configs and anything else put there). */
  list(): string[];
  /**
   * Remove temp files a killed saver left (only the named writer, used where the filesystem has no
   * O_TMPFILE, makes any); returns their names.
   */
  sweep(): string[];
}

/** A saved delegate config is a few hundred bytes; anything past this is not one. */
export const SAVED_CONF_MAX_BYTES = 1024 * 1024;

/** How old a named writer's temp file must be before a save removes it (it lives for a few microseconds). */
const STALE_TEMP_MS = 60_000;

function isNotFound(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === "ENOENT";
}

export class DiskScratch implements ScratchStore {
  constructor(
    readonly dataDir: string,
    private readonly files: FileWriter = namedTempWriter,
  ) {}

  path(containerID: string): string {
    return join(this.dataDir, containerID);
  }

  save(containerID: string, bytes: string): void {
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    this.files.replace(this.path(containerID), bytes, 0o600);
  }

  load(containerID: string): string | undefined {
    try {
      return readStateFile(this.path(containerID), SAVED_CONF_MAX_BYTES);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  remove(containerID: string): void {
    rmSync(this.path(containerID), { force: true });
  }

  list(): string[] {
    try {
      return readdirSync(this.dataDir);
    } catch (e) {
      if (isNotFound(e)) return [];
      throw e;
    }
  }

  sweep(): string[] {
    return sweepTemps(this.dataDir, STALE_TEMP_MS);
  }
}
