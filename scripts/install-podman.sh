#!/usr/bin/env bash
# Installs what conformance/podman.test.ts needs: podman 4.3 (Debian bookworm, still has the CNI
# network backend), an OCI runtime, and a static busybox to build a local image from (no registry here).
# Idempotent: apt-get update runs once, only when something is missing.
set -euo pipefail
# runc, not crun: crun 1.8 refuses this cgroup v1/v2 hybrid host ("cgroups in hybrid mode not supported").
pkgs=(podman runc conmon busybox-static containernetworking-plugins iptables iproute2)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-podman: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v podman >/dev/null && command -v runc >/dev/null || { echo "install-podman: podman or runc missing after install" >&2; exit 1; }
test -x /bin/busybox || { echo "install-podman: /bin/busybox missing after install" >&2; exit 1; }
