/**
 * Whole-buffer reads and writes on the process's standard file descriptors without stream objects.
 * A plugin exec reads one JSON document and prints one: `process.stdin`/`process.stdout` would load
 * and build the stream machinery first (a sizeable part of a short exec under Bun), these do plain
 * read(2) and write(2). A descriptor left non-blocking by someone else (EAGAIN) is waited for, not failed.
 */
import { readSync, writeSync } from "node:fs";

const pause = new Int32Array(new SharedArrayBuffer(4));

function errnoOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function retryable(e: unknown): boolean {
  const code = errnoOf(e);
  if (code === "EINTR") return true;
  if (code === "EAGAIN" || code === "EWOULDBLOCK") {
    Atomics.wait(pause, 0, 0, 1);
    return true;
  }
  return false;
}

/** Read `fd` to end of file and decode it as UTF-8. */
export function readAllSync(fd: number): string {
  return readAllBytesSync(fd).toString("utf8");
}

/** Read `fd` to end of file. */
export function readAllBytesSync(fd: number): Buffer {
  const chunks: Buffer[] = [];
  let buf = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if (retryable(e)) continue;
      throw e;
    }
    if (n === 0) break;
    chunks.push(buf.subarray(0, n));
    buf = Buffer.allocUnsafe(buf.length);
  }
  return Buffer.concat(chunks);
}

/** Write all of `text` to `fd`. */
export function writeAllSync(fd: number, text: string): void {
  writeAllBytesSync(fd, Buffer.from(text, "utf8"));
}

/** Write all of `buf` to `fd`. */
export function writeAllBytesSync(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.byteLength) {
    try {
      off += writeSync(fd, buf, off, buf.byteLength - off);
    } catch (e) {
      if (!retryable(e)) throw e;
    }
  }
}

/** A `{ write }` sink on a file descriptor (stdout 1, stderr 2). */
export function fdSink(fd: number): { write(s: string): boolean } {
  return {
    write(s: string): boolean {
      writeAllSync(fd, s);
      return true;
    },
  };
}
