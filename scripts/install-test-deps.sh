#!/usr/bin/env bash
# Installs what the tests need beyond Go: redis-server (Debian's package)
# for the redisstore tests, which fail rather than skip when CI is set.
# Does nothing when it is there. On a host with systemd, the package also
# starts a server on port 6379; the tests start their own on free ports.
set -euo pipefail
if command -v redis-server >/dev/null; then
	exit 0
fi
pkgs=(redis-server)
sudo=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "install-test-deps: run as root or install: apt-get install ${pkgs[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "install-test-deps: installing ${pkgs[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
