/**
 * The doctor's context on the real node: rtnetlink (linux/, bun:ffi: loaded only by the doctor
 * role), /proc/sys, the files, iptables through execa, the store through flanneld's own subnet
 * manager factory, plugins run for VERSION through libcni, the relay and the probe.
 */
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { ResultCache } from "../../libcni/cache.ts";
import { getVersionInfo } from "../../libcni/invoke/result.ts";
import { RawExec } from "../../libcni/invoke/raw-exec.ts";
import { execaRunner } from "../../linux/command.ts";
import { openNetlink } from "../../linux/netlink/open.ts";
import { procSysctl } from "../../linux/sysctl.ts";
import type { FlannelFlags } from "../flags.ts";
import type { IpamView } from "../ipam-view.ts";
import { errorMessage } from "../log.ts";
import { probePeer } from "../probe/prober.ts";
import type { DoctorContext, Files } from "./context.ts";
import type { DoctorOptions } from "./options.ts";
import { relayCall } from "./relay-client.ts";
import { openStore } from "./store.ts";

/** What the composition root hands the doctor: plugin knowledge the daemon does not import. */
export interface DoctorPlugins {
  readonly ipam: IpamView;
  readonly flannelDelegates: DoctorContext["flannelDelegates"];
}

const files: Files = {
  read(path) {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
  },
  exists: (path) => existsSync(path),
  listFiles(dir) {
    try {
      return readdirSync(dir, { withFileTypes: true })
        .filter((e) => !e.isDirectory())
        .map((e) => e.name);
    } catch {
      return undefined;
    }
  },
  isExecutable(path) {
    try {
      if (!statSync(path).isFile()) return false;
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  },
};

export async function systemContext(
  flags: FlannelFlags,
  options: DoctorOptions,
  plugins: DoctorPlugins,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DoctorContext> {
  const opened = await openStore(flags, env);
  const exec = new RawExec({ timeoutMs: 5000, stderr: { write: () => undefined } });
  return {
    flags,
    options,
    nl: openNetlink(),
    sysctl: procSysctl,
    files,
    run: execaRunner,
    store: "store" in opened ? opened.store : undefined,
    ...("error" in opened ? { storeError: opened.error } : {}),
    ipam: plugins.ipam,
    cachedAttachments: () => new ResultCache(options.cniCacheDir).attachments(),
    flannelDelegates: plugins.flannelDelegates,
    async pluginVersions(path) {
      try {
        const info = await getVersionInfo(exec, path, { baseEnv: env, timeoutMs: 5000 });
        return { versions: info.supportedVersions };
      } catch (e) {
        return { error: errorMessage(e) };
      }
    },
    relay: (socket, callEnv, stdin) => relayCall(socket, callEnv, stdin),
    async http(url, timeoutMs) {
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
        return { status: r.status, body: await r.text() };
      } catch (e) {
        return { error: errorMessage(e) };
      }
    },
    probe: (o) => probePeer(o),
  };
}
