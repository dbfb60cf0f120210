import type { ScratchStore } from "../scratch.ts";

/** In-memory store for tests. */
export class MemoryScratch implements ScratchStore {
  readonly files = new Map<string, string>();
  /** Entries load() cannot read (a FIFO, a directory): the message it throws. */
  readonly unreadable = new Map<string, string>();
  save(containerID: string, bytes: string): void {
    this.files.set(containerID, bytes);
  }
  load(containerID: string): string | undefined {
    const bad = this.unreadable.get(containerID);
    if (bad !== undefined) throw new Error(bad);
    return this.files.get(containerID);
  }
  remove(containerID: string): void {
    this.files.delete(containerID);
    this.unreadable.delete(containerID);
  }
  list(): string[] {
    return [...this.files.keys(), ...this.unreadable.keys()];
  }
  sweep(): string[] {
    return [];
  }
}
