/**
 * Root-test driver (bun): host-local's flock Locker under concurrency in one process, as flanneld's CNI
 * server runs it. Prints one JSON line.
 *   queue <lockfile> <n>   n calls at once whose critical sections await a timer; reports the
 *                          largest number of holders at once and whether all finished
 *   other <lockfile>       while another process holds the flock, a timer of this process keeps
 *                          ticking (the thread is not blocked) and the lock is taken once released
 */
import { flockLocker } from "../flock-locker.ts";

const [cmd = "", file = "", n = "10"] = process.argv.slice(2);
const out = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v)}\n`);

if (cmd === "queue") {
  let holders = 0;
  let most = 0;
  const done = await Promise.all(
    Array.from({ length: Number(n) }, (_, i) =>
      flockLocker.withLock(file, async () => {
        holders++;
        most = Math.max(most, holders);
        await new Promise((r) => setTimeout(r, 2));
        holders--;
        return i;
      }),
    ),
  );
  out({ most, finished: done.length });
} else if (cmd === "other") {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  const t0 = performance.now();
  await flockLocker.withLock(file, () => undefined);
  clearInterval(timer);
  out({ waitedMs: Math.round(performance.now() - t0), ticks });
}
