/**
 * What the CNI server's two threads share: the layout of their shared Int32Array and the heartbeat.
 * Its own module because the main thread must not import worker.ts (a worker module's top-level code
 * installs a message handler on the global scope, which in the main thread would keep the process
 * alive).
 */

/** Slots of the shared Int32Array between the threads. */
export const SHARED = {
  /** 1 while the main thread takes calls. */
  accepting: 0,
  /** The main thread's last heartbeat, Date.now() modulo 2^31. */
  heartbeat: 1,
  slots: 2,
} as const;

/** How often the main thread beats, and how old a beat may be for this thread to still offer. */
export const HEARTBEAT_MS = 100;
export const HEARTBEAT_STALE_MS = 1500;

/** Date.now() as the heartbeat slot holds it. */
export function beatNow(): number {
  return Date.now() % 0x7fffffff;
}
