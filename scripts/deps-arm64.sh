#!/usr/bin/env bash
# Installs what `make arm64`, `make deb` and their tests need on a Debian bookworm amd64 build machine:
#   - host tools (apt): the arm64 cross toolchain, qemu's user-mode emulator, lintian;
#   - an arm64 sysroot ($ARM64_SYSROOT, default /var/cache/doorface/sysroot-arm64): Debian's arm64
#     OpenCV, dlib, BLAS/LAPACK and libjpeg packages with all their dependencies, downloaded by apt and
#     unpacked with dpkg-deb, NOT installed into this machine's dpkg database.
# Why a sysroot: bookworm's arm64 OpenCV cannot be installed beside the amd64 one that `make deps`
# installs (libopencv-imgcodecs406 -> libgdal32 -> gdal-plugins, which is not Multi-Arch: same), so
# `apt-get install libopencv-dev:arm64` removes the amd64 OpenCV (and vice versa).
# A Pi running `make run` never needs this script: `make deps` (scripts/deps.sh) is its deps step.
# Does nothing when everything is present; uses sudo only when not root; prints what it does.
set -euo pipefail

ARCH=arm64
TRIPLET=aarch64-linux-gnu
SYSROOT=${ARM64_SYSROOT:-/var/cache/doorface/sysroot-arm64}

# What the doorface binary links: go-face -ldlib -lblas -lcblas -llapack -ljpeg; gocv opencv4 (pkg-config);
# vision -ldlib -ldl. libatlas-base-dev provides libcblas.so; OpenBLAS is the BLAS the sysroot selects, as
# scripts/deps.sh does on the build machine and on a Pi.
CROSS_LIBS=(
  "libopencv-dev:$ARCH"
  "libdlib-dev:$ARCH"
  "libblas-dev:$ARCH" "liblapack-dev:$ARCH" "libatlas-base-dev:$ARCH" "libopenblas-dev:$ARCH"
  "libjpeg-dev:$ARCH"
)
TOOLS=(
  "crossbuild-essential-$ARCH"
  qemu-user-static
  lintian
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
apt_get() { $SUDO apt-get -o DPkg::Lock::Timeout=900 "$@"; }

updated=""
if ! dpkg --print-foreign-architectures | grep -qx "$ARCH"; then
  # Only makes apt download the arm64 package lists; installs nothing.
  echo "deps-arm64: adding the $ARCH architecture to dpkg's package lists"
  $SUDO dpkg --add-architecture "$ARCH"
  apt_get update -qq
  updated=1
fi

missing=()
for p in "${TOOLS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps-arm64: host tools already installed: ${TOOLS[*]}"
else
  echo "deps-arm64: installing: ${missing[*]}"
  [ -n "$updated" ] || apt_get update -qq
  updated=1
  apt_get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The sysroot is rebuilt when the package list changes; its stamp records the list.
# Bump LAYOUT when the way the sysroot is made changes.
LAYOUT=2
want_stamp=$(printf '%s\n' "layout $LAYOUT" "${CROSS_LIBS[@]}" | sha256sum | cut -d' ' -f1)
if [ -f "$SYSROOT/.doorface-stamp" ] && [ "$(cat "$SYSROOT/.doorface-stamp")" = "$want_stamp" ]; then
  echo "deps-arm64: sysroot $SYSROOT is ready"
  exit 0
fi

echo "deps-arm64: building the $ARCH sysroot in $SYSROOT: ${CROSS_LIBS[*]}"
cache=$(dirname "$SYSROOT")/apt-$ARCH
$SUDO rm -rf "$SYSROOT"
$SUDO mkdir -p "$SYSROOT" "$cache/archives/partial" "$cache/state"
$SUDO touch "$cache/state/status"
# apt resolves against an empty dpkg status (nothing counts as installed), so it downloads the whole
# dependency closure; it installs nothing and does not touch this machine's dpkg database.
apt_arm64() {
  $SUDO apt-get -o Dir::State::status="$cache/state/status" -o Dir::Cache::archives="$cache/archives" \
    -o APT::Install-Recommends=false -o Debug::NoLocking=1 "$@"
}
if ! apt_arm64 install -y -qq --download-only "${CROSS_LIBS[@]}" >/dev/null; then
  [ -n "$updated" ] && exit 1
  apt_get update -qq
  apt_arm64 install -y -qq --download-only "${CROSS_LIBS[@]}" >/dev/null
fi
n=0
for deb in "$cache"/archives/*.deb; do
  pkg=$(dpkg-deb -f "$deb" Package)
  $SUDO dpkg-deb -x "$deb" "$SYSROOT"
  # Control files (shlibs, symbols) let scripts/mkdeb.sh compute the arm64 package's Depends.
  $SUDO mkdir -p "$SYSROOT/var/lib/dpkg/info/$pkg"
  $SUDO dpkg-deb -e "$deb" "$SYSROOT/var/lib/dpkg/info/$pkg"
  n=$((n + 1))
done
# Absolute symlinks would point into this machine, not the sysroot: make them relative.
while IFS= read -r -d '' link; do
  target=$(readlink "$link")
  $SUDO ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$SYSROOT$target")" "$link"
done < <($SUDO find "$SYSROOT" -type l -lname '/*' -print0)
# What update-alternatives does on a real system: libblas/liblapack (and libopenblas.so.0, which they
# load) point at OpenBLAS (pthread).
lib=$SYSROOT/usr/lib/$TRIPLET
for f in libblas.so libblas.so.3 liblapack.so liblapack.so.3 libopenblas.so.0; do
  if [ -e "$lib/openblas-pthread/$f" ]; then
    $SUDO ln -sfn "openblas-pthread/$f" "$lib/$f"
  else
    echo "deps-arm64: $lib/openblas-pthread/$f missing" >&2
    exit 1
  fi
done
echo "$want_stamp" | $SUDO tee "$SYSROOT/.doorface-stamp" >/dev/null
echo "deps-arm64: unpacked $n packages into $SYSROOT ($(du -sh "$SYSROOT" | cut -f1))"
