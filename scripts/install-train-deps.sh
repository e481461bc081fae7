#!/usr/bin/env bash
# Installs what the training recipe (models/train) needs from Debian:
# PyTorch and ONNX for /usr/bin/python3, OpenBLAS, and the English WordNet
# (synonym augmentation). Does nothing when they are there.
set -euo pipefail
if /usr/bin/python3 -c 'import torch, onnx' 2>/dev/null && [ -f /usr/share/wordnet/data.noun ]; then
	exit 0
fi
pkgs=(python3-torch python3-onnx libopenblas0-pthread wordnet-base)
sudo=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "install-train-deps: run as root or install: apt-get install ${pkgs[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "install-train-deps: installing ${pkgs[*]} (about 200 MB, once)" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
