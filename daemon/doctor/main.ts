/**
 * The `doctor` role of the weft binary: check this node's flannel network and say what to fix.
 * Exit codes: 0 no check failed, 1 a check failed, 2 bad flags.
 */
import { FlagError } from "../flags.ts";
import { exitCode } from "./check.ts";
import { runDoctor } from "./doctor.ts";
import { findFlanneld } from "./flanneld-process.ts";
import { doctorHelp, parseDoctorArgs } from "./options.ts";
import { formatJson, formatTable } from "./report.ts";
import { systemContext, type DoctorPlugins } from "./system.ts";

export async function main(argv: readonly string[], plugins: DoctorPlugins): Promise<number> {
  let parsed: ReturnType<typeof parseDoctorArgs>;
  try {
    parsed = parseDoctorArgs(argv, process.env);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    process.stderr.write(`weft doctor: ${e.message}\n`);
    return 2;
  }
  if (parsed.options.help || parsed.flags.help) {
    process.stdout.write(doctorHelp());
    return 0;
  }
  let env: NodeJS.ProcessEnv = process.env;
  let flags = parsed.flags;
  let source = { from: "command line", args: parsed.flanneldArgs };
  const anyEnv = Object.keys(env).some((k) => k.startsWith("FLANNELD_"));
  const running = parsed.flanneldArgs.length === 0 && !anyEnv ? findFlanneld() : undefined;
  if (running) {
    env = { ...running.env, ...process.env };
    try {
      flags = parseDoctorArgs(running.args, env).flags;
      source = { from: `flanneld (pid ${running.pid})`, args: running.args };
    } catch (e) {
      process.stderr.write(`weft doctor: cannot use the flags of flanneld (pid ${running.pid}): ${String(e)}\n`);
    }
  }
  const ctx = await systemContext(flags, parsed.options, plugins, env);
  try {
    const results = await runDoctor(ctx);
    const width = process.stdout.columns && process.stdout.columns > 60 ? process.stdout.columns : 110;
    const args = source.args.join(" ") || "(none: the defaults)";
    const note = running ? `flanneld flags of the running ${source.from}: ${args}` : `flanneld flags: ${args}`;
    process.stdout.write(parsed.options.json ? formatJson(results, source) : formatTable(results, width, note));
    return exitCode(results);
  } finally {
    ctx.store?.close();
    ctx.nl.close();
  }
}
