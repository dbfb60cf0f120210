/** Everything the bridge commands reach outside themselves, injected (fakes in unit tests). */
import type { Result100 } from "../../libcni/types/result.ts";
import type { IpMasq } from "./ipmasq.ts";
import type { HostNet, PodOpener } from "./kernel.ts";
import type { SpoofCheck } from "./spoofcheck.ts";

/** The IPAM delegate (exec'd, or in-process for our own types); ADD results already in 1.1.0 form. */
export interface IpamRunner {
  add(type: string, conf: string): Promise<Result100>;
  del(type: string, conf: string): Promise<void>;
  check(type: string, conf: string): Promise<void>;
  status(type: string, conf: string): Promise<void>;
  gc(type: string, conf: string): Promise<void>;
}

export interface BridgeDeps {
  readonly host: HostNet;
  readonly openPod: PodOpener;
  readonly ipam: IpamRunner;
  readonly masq: IpMasq;
  readonly spoof: SpoofCheck;
  /** `n` random bytes as hex (crypto-random in production). */
  readonly randomHex: (n: number) => string;
  readonly sleep: (ms: number) => Promise<void>;
  /** Diagnostics for stderr. */
  readonly log: (msg: string) => void;
  /**
   * A small state file's text, undefined when there is none: how the bridge reads host-local's
   * reservations to tell whose an attachment is (owner.ts). Without it that is not checked.
   */
  readonly readFile?: (path: string) => string | undefined;
}

/** The parts of skel's CmdArgs the bridge uses. */
export interface BridgeCall {
  readonly containerID: string;
  readonly netns: string;
  readonly ifName: string;
  /** CNI_ARGS */
  readonly args: string;
  /** The exact stdin bytes (what IPAM gets). */
  readonly stdinData: string;
  /** stdin decoded as JSON. */
  readonly config: unknown;
}
