/**
 * How to reach the Kubernetes API, resolved like client-go's BuildConfigFromFlags: nothing given →
 * in-cluster service account (KUBERNETES_SERVICE_HOST/PORT, token and ca.crt); a kubeconfig →
 * its current context; `--kube-api-url` → overrides the server (alone: no credentials).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseYaml, type YamlValue } from "./yaml.ts";

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface KubeConnection {
  /** API server base URL, e.g. https://10.96.0.1:443 */
  readonly server: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly token?: string;
  /** Re-read on every request (service account tokens rotate). */
  readonly tokenFile?: string;
  readonly username?: string;
  readonly password?: string;
  readonly insecureSkipTlsVerify?: boolean;
  /** Where this came from, for messages. */
  readonly source: string;
}

/** A configuration mistake; the message names the file or variable and the fix. */
export class KubeConfigError extends Error {
  override readonly name = "KubeConfigError";
}

type Obj = { [k: string]: YamlValue };
const isObj = (v: YamlValue | undefined): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const strOf = (o: Obj, k: string): string | undefined => (typeof o[k] === "string" ? (o[k] as string) : undefined);

function named(list: YamlValue | undefined, name: string, what: string, file: string): Obj {
  const items = Array.isArray(list) ? list : [];
  const hit = items.find((i) => isObj(i) && i["name"] === name);
  if (!isObj(hit) || !isObj(hit[what]))
    throw new KubeConfigError(`${file}: no ${what} named ${JSON.stringify(name)}: fix the context or add the ${what}`);
  return hit[what];
}

/** Parse kubeconfig text (file paths inside are relative to `file`'s directory). */
export function connectionFromKubeconfig(text: string, file: string): KubeConnection {
  let doc: YamlValue;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new KubeConfigError(`${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isObj(doc))
    throw new KubeConfigError(`${file}: not a kubeconfig (expected a mapping with clusters, contexts, users)`);
  const contexts = Array.isArray(doc["contexts"]) ? doc["contexts"] : [];
  const currentName = strOf(doc, "current-context") ?? (isObj(contexts[0]) ? strOf(contexts[0], "name") : undefined);
  if (!currentName) throw new KubeConfigError(`${file}: no current-context and no contexts: set current-context`);
  const ctx = named(doc["contexts"], currentName, "context", file);
  const cluster = named(doc["clusters"], strOf(ctx, "cluster") ?? "", "cluster", file);
  const userName = strOf(ctx, "user");
  const user = userName ? named(doc["users"], userName, "user", file) : {};
  const base = dirname(file);
  const readPath = (p: string): Buffer => {
    const full = isAbsolute(p) ? p : resolve(base, p);
    try {
      return readFileSync(full);
    } catch (e) {
      throw new KubeConfigError(`${file}: cannot read ${full}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const pick = (o: Obj, dataKey: string, fileKey: string): Buffer | undefined => {
    const d = strOf(o, dataKey);
    if (d) return Buffer.from(d, "base64");
    const f = strOf(o, fileKey);
    return f ? readPath(f) : undefined;
  };
  if (user["exec"] !== undefined || user["auth-provider"] !== undefined) {
    throw new KubeConfigError(
      `${file}: user ${JSON.stringify(userName)} uses exec/auth-provider ` +
        "credentials, which flanneld does not run: use a token or a client certificate",
    );
  }
  const server = strOf(cluster, "server");
  if (!server)
    throw new KubeConfigError(
      `${file}: cluster of context ${JSON.stringify(currentName)} has no server: set clusters[].cluster.server`,
    );
  const ca = pick(cluster, "certificate-authority-data", "certificate-authority");
  const cert = pick(user, "client-certificate-data", "client-certificate");
  const key = pick(user, "client-key-data", "client-key");
  const token = strOf(user, "token");
  const tokenFile = strOf(user, "tokenFile");
  const username = strOf(user, "username");
  const password = strOf(user, "password");
  return {
    server,
    source: `kubeconfig ${file} (context ${currentName})`,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(token ? { token } : {}),
    ...(tokenFile ? { tokenFile: isAbsolute(tokenFile) ? tokenFile : resolve(base, tokenFile) } : {}),
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(cluster["insecure-skip-tls-verify"] === true ? { insecureSkipTlsVerify: true } : {}),
  };
}

/** The in-cluster service account connection. */
export function inClusterConnection(
  env: Readonly<Record<string, string | undefined>>,
  saDir = SERVICE_ACCOUNT_DIR,
): KubeConnection {
  const host = env["KUBERNETES_SERVICE_HOST"];
  const port = env["KUBERNETES_SERVICE_PORT"];
  if (!host || !port) {
    throw new KubeConfigError(
      "not running in a pod (KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are unset): " +
        "give --kubeconfig-file or --kube-api-url, or run flanneld as the kube-flannel DaemonSet",
    );
  }
  if (!existsSync(`${saDir}/token`)) {
    throw new KubeConfigError(
      `no service account token at ${saDir}/token: flanneld talks to the API server as its pod's service ` +
        "account; give the DaemonSet's pod template `serviceAccountName: flannel` (the ServiceAccount, " +
        "ClusterRole and binding of kube-weft.yml) and do not set automountServiceAccountToken: false",
    );
  }
  let ca: Buffer | undefined;
  try {
    ca = readFileSync(`${saDir}/ca.crt`);
  } catch {
    ca = undefined;
  }
  const h = host.includes(":") ? `[${host}]` : host;
  return {
    server: `https://${h}:${port}`,
    tokenFile: `${saDir}/token`,
    ...(ca ? { ca } : {}),
    source: `in-cluster service account (${saDir})`,
  };
}

/** Options of {@link resolveConnection}: the flanneld flags and environment. */
export interface ResolveOptions {
  readonly kubeApiUrl: string;
  readonly kubeconfigFile: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly saDir?: string;
}

export function resolveConnection(o: ResolveOptions): KubeConnection {
  if (!o.kubeApiUrl && !o.kubeconfigFile) return inClusterConnection(o.env, o.saDir);
  if (!o.kubeconfigFile) return { server: o.kubeApiUrl, source: "--kube-api-url" };
  let text: string;
  try {
    text = readFileSync(o.kubeconfigFile, "utf8");
  } catch (e) {
    throw new KubeConfigError(
      `--kubeconfig-file=${o.kubeconfigFile}: ${e instanceof Error ? e.message : String(e)}: check the path`,
    );
  }
  const c = connectionFromKubeconfig(text, o.kubeconfigFile);
  return o.kubeApiUrl ? { ...c, server: o.kubeApiUrl, source: `${c.source}, server from --kube-api-url` } : c;
}
