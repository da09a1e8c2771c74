#!/usr/bin/env bash
# Puts the model files into $MODELS_DIR (default ./models): dlib's three go-face loads,
#   dlib_face_recognition_resnet_model_v1.dat, mmod_human_face_detector.dat, shape_predictor_5_face_landmarks.dat
#   and the ONNX files of the mobilefacenet engine (YuNet, MobileFaceNet) and of liveness (MiniFASNet V2, V1SE).
# Sources, in order: the local mirror folder $MODEL_MIRROR; dlib's official downloads (bz2, decompressed).
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
# Pinned public source of the files that are not on dlib.net (MobileFaceNet's ONNX has none yet: it is
# converted from a TFLite file, a converter the project does not ship yet; use MODEL_MIRROR).
YUNET_URL=${YUNET_URL:-https://github.com/ShiqiYu/libfacedetection.train/raw/1688402dbd9b9fc4a3a6793810f558b7407ff384/tasks/task1/onnx/yunet_120x160.onnx}
# The liveness models (MiniFASNet V2 and V1SE, Apache-2.0), ONNX conversions pinned at a commit that has them.
MINIFASNET_BASE=${MINIFASNET_BASE:-https://github.com/yakhyo/face-anti-spoofing/raw/c175efef505bc275f7835cc9aa2aecab305ac184/weights}

die() { echo "models: ERROR: $*" >&2; exit 1; }

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

download() {
  local name=$1 out=$2 tmp url=
  case "$name" in
    face_detection_yunet_2022mar.onnx) url=$YUNET_URL ;;
    minifasnet_v2.onnx) url=$MINIFASNET_BASE/MiniFASNetV2.onnx ;;
    minifasnet_v1se.onnx) url=$MINIFASNET_BASE/MiniFASNetV1SE.onnx ;;
  esac
  case "$name" in
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
  echo "models: $name: downloading $MODEL_BASE_URL/$name.bz2"
  if curl -fsSL --connect-timeout 10 --max-time 600 "$MODEL_BASE_URL/$name.bz2" -o "$tmp.bz2" && bunzip2 -c "$tmp.bz2" > "$tmp"; then
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
  die "$name: not found in MODEL_MIRROR='${MODEL_MIRROR}' and could not be downloaded from $MODEL_BASE_URL. Fix: set MODEL_MIRROR to a folder holding $name (CI: ../shared/models), or give this machine access to dlib.net."
done
echo "models: ready in $MODELS_DIR"
