/**
 * Names of the node annotations flannel reads and writes, derived from `--kube-annotation-prefix`
 * exactly as flannel does: at most one slash; "/" appended when there is none; "-" appended
 * when the prefix ends in neither "/" nor "-"; the result must look like `fqdn/[0-9a-z-_]*`.
 */

export interface AnnotationNames {
  readonly subnetKubeManaged: string;
  readonly backendData: string;
  readonly backendV6Data: string;
  readonly backendType: string;
  readonly publicIP: string;
  readonly publicIPv6: string;
  readonly nodePublicIP: string;
  readonly nodePublicIPv6: string;
  readonly publicIPOverwrite: string;
  readonly publicIPv6Overwrite: string;
}

export const DEFAULT_ANNOTATION_PREFIX = "flannel.alpha.coreos.com";

const PREFIX_RE = /^(?:[a-z0-9_-]+\.)+[a-z0-9_-]+\/(?:[a-z0-9_-]+-)?$/;

/** The normalized prefix, or an error message saying what is wrong and how to fix it. */
export function normalizeAnnotationPrefix(prefix: string): { prefix: string } | { error: string } {
  const slashes = prefix.split("/").length - 1;
  if (slashes > 1) {
    return {
      error:
        `--kube-annotation-prefix=${prefix} has ${slashes} slashes: use ` +
        "at most one, e.g. flannel.alpha.coreos.com or example.com/flannel",
    };
  }
  let p = slashes === 0 ? `${prefix}/` : prefix;
  if (!p.endsWith("/") && !p.endsWith("-")) p += "-";
  if (!PREFIX_RE.test(p)) {
    return {
      error:
        `--kube-annotation-prefix=${prefix} is not a valid annotation prefix: it must be a lower-case domain name ` +
        `optionally followed by "/" and a name of [0-9a-z-_] (format fqdn/[0-9a-z-_]*), e.g. flannel.alpha.coreos.com`,
    };
  }
  return { prefix: p };
}

/** Annotation names for a prefix already normalized by {@link normalizeAnnotationPrefix}. */
export function annotationNames(normalizedPrefix: string): AnnotationNames {
  const p = normalizedPrefix;
  return {
    subnetKubeManaged: `${p}kube-subnet-manager`,
    backendData: `${p}backend-data`,
    backendV6Data: `${p}backend-v6-data`,
    backendType: `${p}backend-type`,
    publicIP: `${p}public-ip`,
    publicIPv6: `${p}public-ipv6`,
    nodePublicIP: `${p}node-public-ip`,
    nodePublicIPv6: `${p}node-public-ipv6`,
    publicIPOverwrite: `${p}public-ip-overwrite`,
    publicIPv6Overwrite: `${p}public-ipv6-overwrite`,
  };
}
