/**
 * A PluginExec fake for tests: records every call and answers from a script, without processes.
 * Answers are outcomes (stdout/stderr/exit status) interpreted by the same rules as RawExec.
 */
import { CniError, ErrorCode } from "../types/error.ts";
import { CURRENT_VERSION, SPEC_VERSIONS } from "../version.ts";
import { pluginFailure, type ExecRequest, type PluginExec, type PluginOutcome } from "../invoke/exec.ts";

export interface RecordedCall {
  readonly path: string;
  /** Plugin type: the basename of the path. */
  readonly type: string;
  readonly command: string;
  readonly stdin: string;
  readonly env: Readonly<Record<string, string>>;
  /** stdin parsed as JSON (undefined if it is not JSON). */
  readonly config: Record<string, unknown> | undefined;
}

/** What a scripted plugin answers: a result to print, a CNI error, or a raw outcome. */
export type ScriptedAnswer =
  | { readonly result: unknown }
  | { readonly error: { readonly code: number; readonly msg: string; readonly details?: string } }
  | { readonly outcome: PluginOutcome }
  | { readonly stdout: string };

export type Responder = (call: RecordedCall) => ScriptedAnswer | undefined;

export interface RecordingExecOptions {
  /**
   * Plugin types that exist; findInPath fails for others with the reference error.
   * @default every type exists, at `<first path>/<type>`
   */
  readonly plugins?: readonly string[];
}

export class RecordingExec implements PluginExec {
  readonly calls: RecordedCall[] = [];
  private readonly responders: Responder[] = [];
  private readonly plugins: ReadonlySet<string> | undefined;

  constructor(opts: RecordingExecOptions = {}) {
    this.plugins = opts.plugins ? new Set(opts.plugins) : undefined;
  }

  /**
   * Add a responder; later ones are asked first. Unanswered calls exit 0: VERSION lists every spec
   * version, ADD prints prevResult (or an empty result in the config's version), others print nothing.
   */
  respond(fn: Responder): this {
    this.responders.unshift(fn);
    return this;
  }

  /** Answer calls for plugin `type` (and optionally only `command`). */
  on(type: string, command: string | undefined, answer: ScriptedAnswer): this {
    return this.respond((c) =>
      c.type === type && (command === undefined || c.command === command) ? answer : undefined,
    );
  }

  get lastCall(): RecordedCall | undefined {
    return this.calls[this.calls.length - 1];
  }

  commands(): string[] {
    return this.calls.map((c) => `${c.command} ${c.type}`);
  }

  findInPath(name: string, paths: readonly string[]): string {
    const first = paths[0];
    if (name === "" || name.includes("/") || first === undefined || (this.plugins && !this.plugins.has(name))) {
      throw new CniError(
        ErrorCode.InvalidEnvironmentVariables,
        `failed to find plugin "${name}" in path [${paths.join(" ")}]`,
      );
    }
    return `${first}/${name}`;
  }

  async execPlugin(req: ExecRequest): Promise<string> {
    const call: RecordedCall = {
      path: req.path,
      type: req.path.slice(req.path.lastIndexOf("/") + 1),
      command: req.env["CNI_COMMAND"] ?? "",
      stdin: req.stdin,
      env: req.env,
      config: tryParse(req.stdin),
    };
    this.calls.push(call);
    const answer = this.responders.map((r) => r(call)).find((a) => a !== undefined);
    const outcome = toOutcome(answer ?? defaultAnswer(call));
    if (outcome.exitCode === 0) return outcome.stdout;
    throw pluginFailure(outcome);
  }
}

/**
 * Unscripted: VERSION supports every spec version; ADD echoes prevResult (or an empty result in the config's version);
 * others print nothing.
 */
function defaultAnswer(call: RecordedCall): ScriptedAnswer | undefined {
  if (call.command === "VERSION") return { result: { cniVersion: CURRENT_VERSION, supportedVersions: SPEC_VERSIONS } };
  if (call.command !== "ADD") return undefined;
  const prev = call.config?.["prevResult"];
  const v = call.config?.["cniVersion"];
  return { result: prev ?? { cniVersion: typeof v === "string" && v !== "" ? v : "0.1.0" } };
}

function toOutcome(a: ScriptedAnswer | undefined): PluginOutcome {
  if (a === undefined) return { stdout: "", stderr: "", exitCode: 0 };
  if ("outcome" in a) return a.outcome;
  if ("stdout" in a) return { stdout: a.stdout, stderr: "", exitCode: 0 };
  if ("result" in a) return { stdout: JSON.stringify(a.result), stderr: "", exitCode: 0 };
  return { stdout: JSON.stringify(a.error), stderr: "", exitCode: 1 };
}

function tryParse(s: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(s);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
