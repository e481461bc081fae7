#!/usr/bin/env bash
# Installs what the tests need beyond Go, from Debian's packages:
# redis-server for the redisstore tests and chromium (at /usr/bin/chromium)
# for the chat page's browser test in api/web; both fail rather than skip
# when CI is set. Installs only what is missing, so running it again does
# nothing. On a host with systemd, the redis package also starts a server on
# port 6379; the tests start their own on free ports.
set -euo pipefail
pkgs=()
command -v redis-server >/dev/null || pkgs+=(redis-server)
[ -x /usr/bin/chromium ] || pkgs+=(chromium)
if [ ${#pkgs[@]} -eq 0 ]; then
	exit 0
fi
sudo=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "install-test-deps: run as root or install: apt-get install ${pkgs[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "install-test-deps: installing ${pkgs[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
