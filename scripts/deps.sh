#!/usr/bin/env bash
# Installs the Debian packages doorface needs to build and test (Debian bookworm / Raspberry Pi OS).
# Does nothing when they are all present; uses sudo only when not root; prints what it installs.
set -euo pipefail

# libatlas-base-dev provides libcblas.so, which go-face links (-lcblas).
# libopenblas-dev: the BLAS dlib runs its face network on. `make bench` measures every installed
# BLAS in child processes; on the 2-core x86 build machine, per 1280x720 frame, landmarks+descriptor
# took 21 ms on OpenBLAS, 31 ms on ATLAS and 132 ms on the reference BLAS. select_blas (below) points
# the Debian alternatives libblas.so.3/liblapack.so.3 at OpenBLAS.
# bzip2/curl: `make models` downloads and unpacks dlib's official files when no mirror is given.
# mosquitto: the MQTT broker the mqtt package's tests start on a loopback port (the daemon itself
# only needs a broker somewhere on the network, not this package).
# python3-onnx python3-flatbuffers python3-numpy: scripts/tflite2onnx.py, which `make models` runs to make
# MobileFaceNet's ONNX from its TFLite file (and vision's converter test runs).
# chromium: the browser tests of the door and admin pages (web/) drive it headless through the
# DevTools protocol (chromedp); fonts-nanum gives it Korean glyphs for the pages' Korean text.
PACKAGES=(
  build-essential pkg-config
  libopencv-dev
  libdlib-dev libdlib-data
  libblas-dev liblapack-dev libatlas-base-dev libopenblas-dev
  libjpeg-dev
  bzip2 curl ca-certificates
  python3-onnx python3-flatbuffers python3-numpy
  mosquitto
  chromium fonts-nanum
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q " ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

# select_blas points libblas.so.3 and liblapack.so.3 at OpenBLAS (pthread build) when they point
# elsewhere; it changes nothing when they already do.
select_blas() {
  local arch alt lib target current
  arch=$(gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH)
  for lib in libblas.so.3 liblapack.so.3; do
    alt="$lib-$arch"
    target="/usr/lib/$arch/openblas-pthread/$lib"
    if [ ! -e "$target" ]; then
      echo "deps: $target missing; dlib keeps its current BLAS" >&2
      continue
    fi
    current=$(update-alternatives --query "$alt" 2>/dev/null | awk '/^Value:/ {print $2}')
    if [ "$current" != "$target" ]; then
      echo "deps: selecting OpenBLAS for $lib (was ${current:-unset})"
      $SUDO update-alternatives --set "$alt" "$target"
    fi
  done
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} Debian packages already installed"
else
  echo "deps: installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  echo "deps: installed ${#missing[@]} package(s)"
fi
select_blas
