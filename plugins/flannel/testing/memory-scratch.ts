import type { ScratchStore } from "../scratch.ts";

/** In-memory store for tests. */
export class MemoryScratch implements ScratchStore {
  readonly files = new Map<string, string>();
  save(containerID: string, bytes: string): void {
    this.files.set(containerID, bytes);
  }
  load(containerID: string): string | undefined {
    return this.files.get(containerID);
  }
  remove(containerID: string): void {
    this.files.delete(containerID);
  }
}
