import { CniError } from "../types/error.ts";

/** Test helper: run `f`, return the CniError it throws; fail when it throws nothing or something else. */
export function caughtCniError(f: () => unknown): CniError {
  try {
    f();
  } catch (e) {
    if (e instanceof CniError) return e;
    throw e;
  }
  throw new Error("expected a CniError");
}
