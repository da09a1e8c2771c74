#!/usr/bin/env bash
# Installs the Debian packages doorface needs to build and test (Debian bookworm / Raspberry Pi OS).
# Does nothing when they are all present; uses sudo only when not root; prints what it installs.
set -euo pipefail

# libatlas-base-dev provides libcblas.so, which go-face links (-lcblas).
# libopenblas-dev: the BLAS dlib runs its network on (see README "Performance" for the measurement).
# bzip2/curl: `make models` downloads and unpacks dlib's official files when no mirror is given.
PACKAGES=(
  build-essential pkg-config
  libopencv-dev
  libdlib-dev libdlib-data
  libblas-dev liblapack-dev libatlas-base-dev libopenblas-dev
  libjpeg-dev
  bzip2 curl ca-certificates
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} Debian packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "deps: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: installed ${#missing[@]} package(s)"
