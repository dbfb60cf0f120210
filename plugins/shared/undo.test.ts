import { describe, expect, it } from "vitest";
import { UndoStack } from "./undo.ts";

describe("UndoStack", () => {
  it("unwinds newest first and keeps going when a step fails", async () => {
    const done: string[] = [];
    const logs: string[] = [];
    const u = new UndoStack();
    u.push("a", () => void done.push("a"));
    u.push("b", () => {
      throw new Error("boom");
    });
    u.push("c", async () => void done.push("c"));
    await u.unwind((m) => logs.push(m));
    expect(done).toEqual(["c", "a"]);
    expect(logs).toEqual(['undo "b" failed: boom']);
    expect(u.size).toBe(0);
  });

  it("does nothing after commit", async () => {
    const u = new UndoStack();
    let ran = false;
    u.push("x", () => void (ran = true));
    u.commit();
    await u.unwind(() => undefined);
    expect(ran).toBe(false);
  });
});
