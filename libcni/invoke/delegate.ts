/**
 * Delegation, for meta plugins (bridge -> IPAM, flannel -> bridge): run another plugin with this
 * process's environment, only CNI_COMMAND replaced, and the full config on stdin.
 *
 * The plugin is looked up on this process's CNI_PATH first, as the reference does, so whichever
 * binary comes first there is the one that runs. The caller's `inProcess` resolver is then asked
 * about that type and the file found (or "" when none was found): when it offers an in-process
 * implementation (e.g. the file is this very binary), that runs instead of an exec, and its output
 * is read by exactly the same rules, so the two paths behave the same. libcni knows no plugin
 * itself: resolvers are injected by plugins/ (layers point down).
 */
import { fdSink } from "../stdio.ts";
import { delegateEnv, pluginFailure, type Env, type PluginExec } from "./exec.ts";
import { RawExec, type StderrSink } from "./raw-exec.ts";
import { decodePluginResult } from "./result.ts";
import type { AnyResult } from "../types/index.ts";
import { CniError, isCniError } from "../types/error.ts";

export interface InProcessPlugin {
  run(io: { readonly env: Env; readonly stdin: string }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

/** `path`: the file CNI_PATH resolved the type to, or "" when no directory holds it. */
export type InProcessResolver = (type: string, path: string) => InProcessPlugin | undefined;

export interface DelegateOptions {
  /** How to run an exec'd delegate. @default a RawExec */
  readonly exec?: PluginExec;
  /** Offer an in-process implementation for a plugin type; undefined means exec it. */
  readonly inProcess?: InProcessResolver;
  /** The environment to inherit. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Exec timeout. @default the exec's own */
  readonly timeoutMs?: number;
  /** Where an in-process delegate's stderr is copied. @default this process's stderr (fd 2) */
  readonly stderr?: StderrSink;
  /**
   * CNI_NETNS for an exec'd delegate when the caller's own CNI_NETNS is not a path the delegate can
   * open (a daemon holding the pod netns as an fd: /proc/<pid>/fd/<n>). The delegate's ADD result
   * names the original CNI_NETNS again, as if it had been given that.
   */
  readonly execNetns?: string;
}

let sharedExec: PluginExec | undefined;
const defaultExec = (): PluginExec => (sharedExec ??= new RawExec());

/** Run the delegate and return its stdout (exit 0), or throw its CniError. */
async function runDelegate(command: string, type: string, conf: string, opts: DelegateOptions): Promise<string> {
  const base = opts.env ?? process.env;
  const env = delegateEnv(base, command);
  const exec = opts.exec ?? defaultExec();
  const paths = (base["CNI_PATH"] ?? "").split(":").filter((p) => p !== "");
  let path = "";
  let notFound: unknown;
  try {
    path = exec.findInPath(type, paths);
  } catch (e) {
    notFound = e;
  }
  const local = opts.inProcess?.(type, path);
  if (local) {
    const out = await local.run({ env, stdin: conf });
    const sink = opts.stderr ?? fdSink(2);
    if (out.exitCode === 0) {
      if (out.stderr) sink.write(out.stderr);
      return out.stdout;
    }
    if (out.stdout && out.stderr) sink.write(out.stderr);
    throw pluginFailure({ stdout: out.stdout, stderr: out.stderr, exitCode: out.exitCode });
  }
  if (notFound !== undefined) throw notFound;
  const original = env["CNI_NETNS"];
  const substitute = opts.execNetns && original ? opts.execNetns : undefined;
  const execEnv = substitute ? { ...env, CNI_NETNS: substitute } : env;
  const timeout = opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs };
  if (!substitute || !original) return exec.execPlugin({ path, stdin: conf, env: execEnv, ...timeout });
  // what the delegate printed names the path it was given: put the caller's CNI_NETNS back
  const inJson = JSON.stringify(original).slice(1, -1);
  try {
    const out = await exec.execPlugin({ path, stdin: conf, env: execEnv, ...timeout });
    return renamePath(out, substitute, inJson);
  } catch (e) {
    if (!isCniError(e)) throw e;
    throw new CniError(e.code, renamePath(e.msg, substitute, original), renamePath(e.details, substitute, original));
  }
}

/** `text` with every whole occurrence of the path `from` (not the start of a longer name) replaced by `to`. */
function renamePath(text: string, from: string, to: string): string {
  const escaped = from.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return text.replace(new RegExp(`${escaped}(?![\\w.-])`, "g"), () => to);
}

/** ADD on the delegate; its result, version-fixed like any plugin result. */
export async function delegateAdd(type: string, conf: string, opts: DelegateOptions = {}): Promise<AnyResult> {
  return decodePluginResult(await runDelegate("ADD", type, conf, opts), conf);
}

export async function delegateCheck(type: string, conf: string, opts: DelegateOptions = {}): Promise<void> {
  await runDelegate("CHECK", type, conf, opts);
}

export async function delegateDel(type: string, conf: string, opts: DelegateOptions = {}): Promise<void> {
  await runDelegate("DEL", type, conf, opts);
}

export async function delegateStatus(type: string, conf: string, opts: DelegateOptions = {}): Promise<void> {
  await runDelegate("STATUS", type, conf, opts);
}

export async function delegateGC(type: string, conf: string, opts: DelegateOptions = {}): Promise<void> {
  await runDelegate("GC", type, conf, opts);
}
