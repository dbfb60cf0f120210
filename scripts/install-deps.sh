#!/usr/bin/env bash
# Installs the system packages the tests and the demo use, on a fresh Debian machine as root.
# apt-get update runs once, only when something is missing.
set -euo pipefail
# golang-go + golang-github-appc-cni-dev: Go libcni source, to build the go-cnitool test oracle offline.
# podman runc conmon busybox-static: conformance/podman.test.ts (podman 4.3 with its CNI backend;
# runc because crun refuses hybrid cgroup hosts; busybox for a locally imported image).
pkgs=(iproute2 iputils-ping time iptables nftables containernetworking-plugins iperf3 procps golang-go golang-github-appc-cni-dev podman runc conmon busybox-static)
# wireguard-go: the wireguard backend's userspace device when the kernel has no WireGuard;
# wireguard-tools: `wg show` in its tests.
pkgs+=(wireguard-go wireguard-tools)
# qemu-user + libc6-arm64-cross: scripts/build-targets.root.test.ts runs the arm64 binary (qemu-aarch64 with
# Debian's arm64 glibc) and the x64 baseline binary on an emulated CPU without AVX2 (qemu-x86_64 -cpu Nehalem).
pkgs+=(qemu-user libc6-arm64-cross)
# etcd is optional: without it the etcd tests skip (saying why) and the demo uses its embedded store.
optional=(etcd-server etcd-client)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
opt_missing=()
for p in "${optional[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || opt_missing+=("$p")
done
export DEBIAN_FRONTEND=noninteractive
if ((${#missing[@]} + ${#opt_missing[@]})); then apt-get update -qq; fi
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ((${#opt_missing[@]})); then
  apt-get install -y -qq --no-install-recommends "${opt_missing[@]}" >/dev/null ||
    echo "install-deps: etcd is not installable here: the demo uses the embedded lease store, etcd tests are skipped"
fi
# The reference plugins live in /usr/lib/cni on Debian.
test -x /usr/lib/cni/bridge || { echo "install-deps: /usr/lib/cni/bridge missing after install" >&2; exit 1; }
