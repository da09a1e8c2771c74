#!/usr/bin/env bash
# A C/C++ compiler wrapper for portable cgo builds: `CXX="scripts/cc-portable.sh aarch64-linux-gnu-g++"`.
# It runs the compiler given as its first argument with every -march=native, -mcpu=native and
# -mtune=native removed. go-face's own cgo directive (face.go: `#cgo CXXFLAGS: ... -march=native`) and
# vision/hog.go carry -march=native: a cross compiler refuses it, and on amd64 it ties the binary to the
# CPU that built it. The target's flags come from CGO_CFLAGS/CGO_CXXFLAGS instead (see the Makefile's
# arm64/deb targets), which also puts them in the Go build cache's key.
set -euo pipefail
[ $# -ge 1 ] || { echo "cc-portable.sh: usage: cc-portable.sh COMPILER ARGS..." >&2; exit 2; }
compiler=$1
shift
args=()
for a in "$@"; do
  case "$a" in
    -march=native | -mcpu=native | -mtune=native) ;;
    *) args+=("$a") ;;
  esac
done
if [ -n "${DOORFACE_CC_LOG:-}" ]; then
  printf '%s\n' "$compiler ${args[*]}" >> "$DOORFACE_CC_LOG"
fi
exec "$compiler" "${args[@]}"
