/**
 * libcni's public surface, for runtimes (cnitool, tests, anything that runs CNI networks) and for
 * meta plugins that delegate. Listed explicitly. Deliberately not exported: the Go-JSON encoder
 * (invoke/gojson.ts), cache-file encoding internals, and the plugin side (skel), which plugins
 * import from libcni/skel/ directly.
 */

// Running networks
export { CniConfig } from "./api.ts";
export type { CniConfigOptions, CniRuntime, GCArgs, GCAttachment } from "./api.ts";

// Configuration files
export { confFromBytes, confListFromBytes, confListFromConf, confListFromFile, loadConf, loadConfList } from "./conf.ts";
export type { NetworkConfig, NetworkConfigList, PluginConf, RuntimeConf } from "./conf.ts";

// Result cache
export { CACHE_KIND_V1, DEFAULT_CACHE_DIR, ResultCache } from "./cache.ts";
export type { CachedAttachment } from "./cache.ts";

// Plugin execution and delegation
export { findInPath, pluginEnv, delegateEnv } from "./invoke/exec.ts";
export type { CniArgs, Env, ExecRequest, PluginExec, PluginOutcome } from "./invoke/exec.ts";
export { DEFAULT_TIMEOUT_MS, RawExec } from "./invoke/raw-exec.ts";
export type { RawExecOptions, StderrSink } from "./invoke/raw-exec.ts";
export { RecordingExec } from "./invoke/recording-exec.ts";
export type { RecordedCall, RecordingExecOptions, Responder, ScriptedAnswer } from "./invoke/recording-exec.ts";
export { execPluginWithResult, execPluginWithoutResult, getVersionInfo } from "./invoke/result.ts";
export type { PluginCall, PluginInfo } from "./invoke/result.ts";
export { delegateAdd, delegateCheck, delegateDel, delegateGC, delegateStatus } from "./invoke/delegate.ts";
export type { DelegateOptions, InProcessPlugin, InProcessResolver } from "./invoke/delegate.ts";
export { buildOneConfig, injectConf } from "./invoke/inject.ts";

// Spec basics, re-exported for convenience
export { CURRENT_VERSION, SPEC_VERSIONS } from "./version.ts";
export { CniError, ErrorCode, formatResult, isCniError } from "./types/index.ts";
export type { AnyResult, Result100 } from "./types/index.ts";
