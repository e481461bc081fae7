#!/usr/bin/env bash
# Installs the ONNX Runtime shared library that kefu loads at run time.
#
# The library comes from Microsoft's onnxruntime-node npm package: `npm pack`
# downloads the tarball without running its install scripts, we extract the one
# Linux library we need and check its sha256. A second run with the right file
# already in place does nothing.
#
# usage: scripts/fetch-onnxruntime.sh [--arch x64|arm64] [--dest DIR]
#   defaults: the host's architecture, DIR=third_party/onnxruntime
set -euo pipefail

ORT_VERSION=1.30.0
declare -A SHA256=(
	[x64]=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
	[arm64]=1f549d46250b005580b597f4164984aaf75b3bcb9f3aeb07c7f8a8fe60b23c76
)

arch=
dest=third_party/onnxruntime
while [ $# -gt 0 ]; do
	case "$1" in
	--arch) arch=$2; shift 2 ;;
	--dest) dest=$2; shift 2 ;;
	-h|--help) sed -n '2,10p' "$0"; exit 0 ;;
	*) echo "fetch-onnxruntime: unknown argument $1" >&2; exit 2 ;;
	esac
done
if [ -z "$arch" ]; then
	case "$(uname -m)" in
	x86_64|amd64) arch=x64 ;;
	aarch64|arm64) arch=arm64 ;;
	*) echo "fetch-onnxruntime: no ONNX Runtime build for $(uname -m); use --arch x64|arm64" >&2; exit 1 ;;
	esac
fi
want=${SHA256[$arch]:-}
if [ -z "$want" ]; then
	echo "fetch-onnxruntime: unknown --arch $arch (want x64 or arm64)" >&2
	exit 2
fi

lib="$dest/libonnxruntime.so.1"
if [ -f "$lib" ] && echo "$want  $lib" | sha256sum -c --status; then
	exit 0
fi
command -v npm >/dev/null || { echo "fetch-onnxruntime: npm is needed (apt-get install npm)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch-onnxruntime: downloading onnxruntime-node@$ORT_VERSION (about 115 MB, once)" >&2
npm pack "onnxruntime-node@$ORT_VERSION" --pack-destination "$tmp" --cache "$tmp/npm-cache" --silent >/dev/null
member="package/bin/napi-v6/linux/$arch/libonnxruntime.so.1"
tar -xzf "$tmp/onnxruntime-node-$ORT_VERSION.tgz" -C "$tmp" "$member"
if ! echo "$want  $tmp/$member" | sha256sum -c --status; then
	echo "fetch-onnxruntime: checksum mismatch for $member: got $(sha256sum "$tmp/$member" | cut -d' ' -f1), want $want" >&2
	exit 1
fi
install -D -m 0644 "$tmp/$member" "$lib"
echo "fetch-onnxruntime: installed ONNX Runtime $ORT_VERSION ($arch) at $lib" >&2
