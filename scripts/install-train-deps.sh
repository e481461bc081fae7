#!/usr/bin/env bash
# Installs Debian's PyTorch and ONNX for the training recipe (models/train),
# unless /usr/bin/python3 already imports them.
set -euo pipefail
if /usr/bin/python3 -c 'import torch, onnx' 2>/dev/null; then
	exit 0
fi
pkgs=(python3-torch python3-onnx libopenblas0-pthread)
sudo=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "install-train-deps: run as root or install: apt-get install ${pkgs[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "install-train-deps: installing ${pkgs[*]} (about 200 MB, once)" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
