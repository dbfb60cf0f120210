/**
 * An explicit undo stack for multi-step ADDs: each step that changes the world pushes how to take
 * it back; on failure `unwind` runs them newest first, every one even if some fail (failures are
 * reported to `log`, the original error stays the one the user sees).
 */
export class UndoStack {
  private readonly steps: { readonly what: string; readonly undo: () => void | Promise<void> }[] = [];

  push(what: string, undo: () => void | Promise<void>): void {
    this.steps.push({ what, undo });
  }

  get size(): number {
    return this.steps.length;
  }

  /** Forget every step: the work is done and stays. */
  commit(): void {
    this.steps.length = 0;
  }

  async unwind(log: (msg: string) => void): Promise<void> {
    for (let s = this.steps.pop(); s; s = this.steps.pop()) {
      try {
        await s.undo();
      } catch (e) {
        log(`undo "${s.what}" failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
}
