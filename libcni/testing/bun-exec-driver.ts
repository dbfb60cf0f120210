// Runs RawExec scenarios in whatever runtime executes this file (the test runs it under Bun, the
// binary's runtime) and prints one JSON object with the outcomes.
import {
  chmodSync,
  closeSync,
  copyFileSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RawExec } from "../invoke/raw-exec.ts";
import { captureSink, NoopScratch } from "./plugins.ts";

const plugins = join(import.meta.dirname, "../testdata/plugins");
const tmp = mkdtempSync(join(tmpdir(), "weft-bun-exec-"));
const env = { PATH: process.env["PATH"] ?? "", CNI_COMMAND: "VERSION" };
const message = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => "ok",
    (e: unknown) => (e as Error).message,
  );

async function main(): Promise<void> {
  const pidfile = join(tmp, "pid");
  const t0 = Date.now();
  const timeout = await message(
    new RawExec({ timeoutMs: 300 }).execPlugin({
      path: join(plugins, "sleep"),
      stdin: "",
      env: { ...env, SLEEP_PIDFILE: pidfile },
    }),
  );
  const elapsed = Date.now() - t0;
  let alive = true;
  try {
    process.kill(Number(readFileSync(pidfile, "utf8")), 0);
  } catch {
    alive = false;
  }
  const stderrOnly = await message(new RawExec().execPlugin({ path: join(plugins, "stderr-only"), stdin: "{}", env }));
  const version = await new RawExec().execPlugin({ path: join(plugins, "noop"), stdin: "", env });
  const busy = join(tmp, "busy");
  copyFileSync(join(plugins, "noop"), busy);
  chmodSync(busy, 0o755);
  const fd = openSync(busy, "r+");
  setTimeout(() => closeSync(fd), 150);
  const busyOut = await message(new RawExec({ busyDelayMs: 100 }).execPlugin({ path: busy, stdin: "", env }));
  // stdin and exactly the given environment reach the plugin; its stderr goes to the sink.
  const scratch = new NoopScratch();
  scratch.setScript({ ADD: { stdout: { cniVersion: "1.0.0" }, stderr: "log line\n" } });
  const sink = captureSink();
  const conf = '{"cniVersion":"1.0.0","name":"net","type":"noop"}';
  const addOut = await new RawExec({ stderr: sink }).execPlugin({
    path: join(plugins, "noop"),
    stdin: conf,
    env: { ...scratch.env(), PATH: env.PATH, CNI_COMMAND: "ADD", CNI_IFNAME: "eth0" },
  });
  const [call] = scratch.calls();
  scratch.dispose();
  const garbage = await message(
    new RawExec().execPlugin({ path: join(plugins, "garbage"), stdin: conf, env: { CNI_COMMAND: "ADD" } }),
  );
  const noexec = join(tmp, "noexec");
  writeFileSync(noexec, "#!/bin/sh\n");
  chmodSync(noexec, 0o644);
  const notExecutable = await message(new RawExec().execPlugin({ path: noexec, stdin: "", env: {} }));
  rmSync(tmp, { recursive: true, force: true });
  const add = { out: JSON.parse(addOut) as unknown, stdin: call?.stdin, env: call?.env, stderr: sink.text() };
  process.stdout.write(
    JSON.stringify({
      timeout,
      elapsed,
      alive,
      stderrOnly,
      version: JSON.parse(version) as unknown,
      busyOut,
      add,
      garbage,
      notExecutable,
    }),
  );
}
void main();
