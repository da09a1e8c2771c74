#!/usr/bin/env bash
# Builds the doorface Debian package for one architecture with dpkg-deb (no debhelper), then runs lintian.
#   scripts/mkdeb.sh --arch arm64|amd64 --binary PATH --version VERSION --out DIR
# Contents: /usr/bin/doorface; /usr/bin/doorface-models (the models step: scripts/models.sh, its TFLite ->
# ONNX converter scripts/tflite2onnx.py and the models/SHA256SUMS* lists, installed under /usr/share/doorface); the systemd unit (deploy/doorface.service
# with the packaged paths); /etc/doorface/doorface.yaml (default config) and /etc/doorface/models.sha256
# (the installer's own known-good sums) as conffiles. postinst creates the doorface system user and
# /var/lib/doorface (0700). No model file is bundled (see README "Install on a Raspberry Pi").
# Depends is computed from the binary's NEEDED libraries and the shlibs files of the packages that
# provide them: the installed amd64 packages, or the arm64 sysroot of scripts/deps-arm64.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
ARCH="" BINARY="" VERSION="" OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) ARCH=$2; shift 2 ;;
    --binary) BINARY=$2; shift 2 ;;
    --version) VERSION=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "mkdeb: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$ARCH" ] && [ -f "$BINARY" ] && [ -n "$VERSION" ] && [ -n "$OUT" ] ||
  { echo "usage: mkdeb.sh --arch arm64|amd64 --binary PATH --version VERSION --out DIR" >&2; exit 2; }
MAINTAINER=${DEB_MAINTAINER:-doorface developers <doorface@example.org>}
ARM64_SYSROOT=${ARM64_SYSROOT:-/var/cache/doorface/sysroot-arm64}

case "$ARCH" in
  amd64) triplet=x86_64-linux-gnu root="" ;;
  arm64) triplet=aarch64-linux-gnu root=$ARM64_SYSROOT ;;
  *) echo "mkdeb: unsupported arch $ARCH" >&2; exit 2 ;;
esac

# shlibs_files: the shlibs control files of the $ARCH packages that may provide a library.
shlibs_files() {
  if [ -z "$root" ]; then
    for f in /var/lib/dpkg/info/*.shlibs; do
      case "${f##*/}" in
        *:"$ARCH".shlibs) echo "$f" ;;
        *:* | *-cross.shlibs) ;;
        *) echo "$f" ;;
      esac
    done
  else
    ls "$root"/var/lib/dpkg/info/*/shlibs 2>/dev/null || true
  fi
}

# compute_depends BINARY: one dependency per NEEDED soname, from the shlibs line "name version deps".
compute_depends() {
  local bin=$1 soname name ver dep deps=() files
  mapfile -t files < <(shlibs_files)
  [ ${#files[@]} -gt 0 ] || { echo "mkdeb: no shlibs files found for $ARCH" >&2; return 1; }
  for soname in $(readelf -d "$bin" | awk '/NEEDED/ {gsub(/[][]/, "", $5); print $5}'); do
    if [[ "$soname" =~ ^(.*)\.so\.([0-9.]+)$ ]]; then
      name=${BASH_REMATCH[1]} ver=${BASH_REMATCH[2]}
    elif [[ "$soname" =~ ^(.*)-([0-9.]+)\.so$ ]]; then
      name=${BASH_REMATCH[1]} ver=${BASH_REMATCH[2]}
    else
      echo "mkdeb: cannot parse soname $soname" >&2; return 1
    fi
    dep=$(cat "${files[@]}" | awk -v n="$name" -v v="$ver" '
      $1 == n && $2 == v { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }
      $1 == "udeb:" { next }')
    [ -n "$dep" ] || { echo "mkdeb: no package provides $soname ($ARCH shlibs)" >&2; return 1; }
    deps+=("$dep")
  done
  printf '%s\n' "${deps[@]}" | sort -u | paste -sd, | sed 's/,/, /g'
}

work=$(mktemp -d /tmp/doorface-mkdeb.XXXXXX)
trap 'rm -rf "$work"' EXIT
pkg=$work/root
umask 022

install -D -m 0755 "$BINARY" "$pkg/usr/bin/doorface"
install -D -m 0755 "$here/scripts/models.sh" "$pkg/usr/share/doorface/scripts/models.sh"
# models.sh runs it with /usr/bin/python3 (from the Recommends below); 0644, since it is not a command of
# its own (lintian then asks for no Depends on python3).
install -D -m 0644 "$here/scripts/tflite2onnx.py" "$pkg/usr/share/doorface/scripts/tflite2onnx.py"
# Every committed checksum list beside models/SHA256SUMS (no model files, no local list).
for f in $(cd "$here" && git ls-files 'models/SHA256SUMS*'); do
  install -D -m 0644 "$here/$f" "$pkg/usr/share/doorface/$f"
done
# models.sh reads models/SHA256SUMS.local beside SHA256SUMS: in the package that is the conffile in /etc.
ln -s /etc/doorface/models.sha256 "$pkg/usr/share/doorface/models/SHA256SUMS.local"
install -D -m 0644 /dev/stdin "$pkg/etc/doorface/models.sha256" <<'EOF'
# Your own known-good model checksums, "<sha256>  <file name>" per line (read by doorface-models as
# models/SHA256SUMS.local). Add a line only for a file you verified against a trusted copy.
EOF
install -D -m 0755 /dev/stdin "$pkg/usr/bin/doorface-models" <<'EOF'
#!/bin/sh
# doorface-models: puts the model files doorface loads into /var/lib/doorface/models (or
# $DOORFACE_MODELS_DIR) and checks each against its SHA-256 (/usr/share/doorface/models/SHA256SUMS and
# /etc/doorface/models.sha256). Sources, in order: the folder $MODEL_MIRROR, then the model publishers'
# downloads. Run as root:
#   sudo doorface-models                           # download
#   sudo MODEL_MIRROR=/media/usb doorface-models   # from a folder holding the files
set -e
MODELS_DIR=${DOORFACE_MODELS_DIR:-/var/lib/doorface/models}
export MODELS_DIR
bash /usr/share/doorface/scripts/models.sh "$@"
case "$MODELS_DIR" in
  /var/lib/doorface/*)
    if [ "$(id -u)" = 0 ] && getent passwd doorface >/dev/null; then
      chown -R doorface:doorface "$MODELS_DIR"
    fi ;;
esac
echo "doorface-models: done; check with: sudo -u doorface doorface models check --models $MODELS_DIR"
EOF

sed -e 's#/usr/local/bin/doorface#/usr/bin/doorface#g' \
    -e 's#^Documentation=.*#Documentation=file:///usr/share/doc/doorface/README.md#' \
    "$here/deploy/doorface.service" > "$work/doorface.service"
grep -q '^ExecStart=/usr/bin/doorface serve ' "$work/doorface.service" ||
  { echo "mkdeb: deploy/doorface.service has no ExecStart=/usr/local/bin/doorface serve" >&2; exit 1; }
install -D -m 0644 "$work/doorface.service" "$pkg/lib/systemd/system/doorface.service"

install -D -m 0640 /dev/stdin "$pkg/etc/doorface/doorface.yaml" <<'EOF'
# doorface configuration (README "Configuration"; `doorface config print` shows every key and its value).
# The systemd unit passes --data, --models and --hw, which win over these.
listen: ":8080"
data: /var/lib/doorface
models: /var/lib/doorface/models
hw: gpio
log_format: json
# Tokens are generated on first start into /var/lib/doorface/tokens.json and printed once to the journal.
EOF

install -D -m 0644 "$here/README.md" "$pkg/usr/share/doc/doorface/README.md"
gzip -9n "$pkg/usr/share/doc/doorface/README.md"
install -D -m 0644 /dev/stdin "$pkg/usr/share/doc/doorface/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: doorface
Comment: The binary statically includes Go modules under their own licences (gocv: Apache-2.0;
 go-face: CC0-1.0; bbolt: MIT; periph.io: Apache-2.0; looplab/fsm: Apache-2.0; Go standard library:
 BSD-3-clause). No model file is included: doorface-models downloads them (dlib models: public domain /
 CC0; YuNet: MIT; MobileFaceNet, MiniFASNet: Apache-2.0).

Files: *
Copyright: the doorface developers
License: proprietary
 All rights reserved. No licence has been chosen for doorface yet.
EOF
changelog_date=$(date -u -R -d "@${SOURCE_DATE_EPOCH:-$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)}")
printf 'doorface (%s) bookworm; urgency=medium\n\n  * Built from %s.\n\n -- %s  %s\n' \
  "$VERSION" "$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo source)" "$MAINTAINER" "$changelog_date" |
  gzip -9n > "$work/changelog.Debian.gz"
install -D -m 0644 "$work/changelog.Debian.gz" "$pkg/usr/share/doc/doorface/changelog.Debian.gz"

mkdir -p "$pkg/DEBIAN"
depends=$(compute_depends "$pkg/usr/bin/doorface")
cat > "$pkg/DEBIAN/control" <<EOF
Package: doorface
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
Depends: $depends, adduser
Recommends: libopenblas0-pthread, curl, bzip2, ca-certificates, libdlib-data, python3-onnx, python3-flatbuffers, python3-numpy
Section: misc
Priority: optional
Description: face-recognition door daemon for a Raspberry-Pi-class board
 doorface recognizes the face in camera frames a door tablet posts over HTTP,
 checks liveness, drives the door relay and status LED over GPIO, falls back
 to a PIN, and keeps a tamper-evident audit history.
 .
 The model files are not included: run doorface-models after installing.
EOF
printf '/etc/doorface/doorface.yaml\n/etc/doorface/models.sha256\n' > "$pkg/DEBIAN/conffiles"

cat > "$pkg/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    # The unit's SupplementaryGroups=gpio: Raspberry Pi OS has the group (it owns /dev/gpiochip*).
    if ! getent group gpio >/dev/null; then
        addgroup --quiet --system gpio
    fi
    if ! getent passwd doorface >/dev/null; then
        adduser --quiet --system --group --home /var/lib/doorface --no-create-home \
            --gecos "doorface door daemon" doorface
    fi
    adduser --quiet doorface gpio
    install -d -o doorface -g doorface -m 0700 /var/lib/doorface /var/lib/doorface/models
    chown root:doorface /etc/doorface/doorface.yaml
    chmod 0640 /etc/doorface/doorface.yaml
fi
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
    # Not enabled here: the daemon needs its models first (doorface-models), then
    # `systemctl enable --now doorface`.
    deb-systemd-helper unmask doorface.service >/dev/null || true
    deb-systemd-helper update-state doorface.service >/dev/null || true
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
        if deb-systemd-helper --quiet is-enabled doorface.service; then
            deb-systemd-invoke restart doorface.service >/dev/null || true
        fi
    fi
fi
exit 0
EOF
cat > "$pkg/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    deb-systemd-invoke stop doorface.service >/dev/null || true
fi
exit 0
EOF
cat > "$pkg/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper mask doorface.service >/dev/null || true
fi
if [ "$1" = purge ] && command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper purge doorface.service >/dev/null || true
    deb-systemd-helper unmask doorface.service >/dev/null || true
    # /var/lib/doorface (users, audit history, evidence, keys) and the doorface user are kept.
    echo "doorface: kept /var/lib/doorface (database, audit history, keys); remove it by hand if wanted" >&2
fi
exit 0
EOF
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"
(cd "$pkg" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/md5sums" "$pkg/DEBIAN/control" "$pkg/DEBIAN/conffiles"

mkdir -p "$OUT"
deb="$OUT/doorface_${VERSION//:/%3a}_$ARCH.deb"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "mkdeb: $deb ($(du -k "$deb" | cut -f1) KiB); Depends: $depends, adduser"

# lintian: every remaining tag is explained in deploy/lintian-overrides.txt (checked: an unexplained tag
# fails the build).
if command -v lintian >/dev/null; then
  lintian --tag-display-limit 0 --display-info "$deb" 2>/dev/null | grep -E '^[EWIPX]: ' > "$work/lintian.txt" || true
  unexplained=$(awk '{print $1 " " $3}' "$work/lintian.txt" | sort -u |
    while read -r sev tag; do
      [ -n "$tag" ] || continue
      grep -q "^$tag:" "$here/deploy/lintian-explained.txt" || echo "$sev $tag"
    done)
  sed 's/^/mkdeb: lintian: /' "$work/lintian.txt"
  if [ -n "$unexplained" ]; then
    echo "mkdeb: lintian tags not explained in deploy/lintian-explained.txt:" >&2
    echo "$unexplained" >&2
    exit 1
  fi
else
  echo "mkdeb: lintian not installed (make deps-arm64 installs it)" >&2
  exit 1
fi
