#!/usr/bin/env bash
# Installs the amd64 doorface package on this machine, checks what it created, fetches the models with the
# command it offers (and once more with MobileFaceNet converted by the packaged converter from its TFLite),
# runs the systemd unit's ExecStart as the doorface user with the simulated board (no
# systemd PID 1 in a sandbox or CI), checks /healthz, and purges the package again (also the user, group
# and data it created). Needs root; refuses to touch a machine where doorface is already installed.
#   scripts/test-deb.sh PATH/doorface_VERSION_amd64.deb
set -euo pipefail

DEB=${1:?usage: test-deb.sh DEB}
here=$(cd "$(dirname "$0")/.." && pwd)
MIRROR=${MODEL_MIRROR:-}
MIRROR=${MIRROR:-$here/../shared/models}
case "$MIRROR" in /*) ;; *) MIRROR=$here/$MIRROR ;; esac
TIMEOUT=${TEST_DEB_TIMEOUT:-}
TIMEOUT=${TIMEOUT:-120}

fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
say() { echo "test-deb: $*"; }

if [ "$(id -u)" -ne 0 ]; then
  # Like scripts/deps.sh: sudo only when not root (CI runs as root).
  command -v sudo >/dev/null || fail "needs root (dpkg -i) and there is no sudo"
  exec sudo MODEL_MIRROR="${MODEL_MIRROR:-}" TEST_DEB_TIMEOUT="${TEST_DEB_TIMEOUT:-}" bash "$0" "$@"
fi
[ -f "$DEB" ] || fail "$DEB not found (make deb)"
if dpkg-query -W -f='${Status}' doorface 2>/dev/null | grep -q 'installed'; then
  fail "doorface is already installed here; this test installs and purges it, so it will not touch that install"
fi
[ -e /var/lib/doorface ] && fail "/var/lib/doorface exists; this test would remove it afterwards"
had_user=""; getent passwd doorface >/dev/null && had_user=1
had_gpio=""; getent group gpio >/dev/null && had_gpio=1

daemon=""
cleanup() {
  set +e
  if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then
    kill -TERM "$daemon"; sleep 2; kill -KILL "$daemon" 2>/dev/null
  fi
  dpkg --purge doorface >/dev/null 2>&1
  rm -rf /var/lib/doorface
  [ -z "$had_user" ] && getent passwd doorface >/dev/null && userdel doorface
  [ -z "$had_user" ] && getent group doorface >/dev/null && groupdel doorface
  [ -z "$had_gpio" ] && getent group gpio >/dev/null && groupdel gpio
  [ -n "${work:-}" ] && rm -rf "$work"
}
trap cleanup EXIT
work=$(mktemp -d /tmp/doorface-test-deb.XXXXXX)

# 1. Install (dependencies: the runtime libraries `make deps` installed).
dpkg -i "$DEB" >"$work/dpkg.log" 2>&1 || fail "dpkg -i failed: $(cat "$work/dpkg.log")"
say "installed $(dpkg-query -W -f='${Package} ${Version} ${Architecture}' doorface)"

# 2. Files, owners and modes.
check_stat() { # PATH WANT("mode owner group")
  local got
  got=$(stat -c '%a %U %G' "$1" 2>/dev/null) || fail "$1 missing"
  [ "$got" = "$2" ] || fail "$1 is '$got', want '$2'"
}
check_stat /usr/bin/doorface "755 root root"
check_stat /usr/bin/doorface-models "755 root root"
check_stat /usr/share/doorface/scripts/tflite2onnx.py "644 root root"
check_stat /lib/systemd/system/doorface.service "644 root root"
check_stat /etc/doorface/doorface.yaml "640 root doorface"
check_stat /etc/doorface/models.sha256 "644 root root"
check_stat /var/lib/doorface "700 doorface doorface"
check_stat /var/lib/doorface/models "700 doorface doorface"
uid=$(id -u doorface)
[ "$uid" -lt 1000 ] || fail "doorface is not a system user (uid $uid)"
shell=$(getent passwd doorface | cut -d: -f7)
[ "$shell" = /usr/sbin/nologin ] || fail "doorface's shell is $shell, want /usr/sbin/nologin"
id -nG doorface | grep -qw gpio || fail "doorface is not in the gpio group"
grep -q '^ExecStart=/usr/bin/doorface serve ' /lib/systemd/system/doorface.service || fail "unit ExecStart does not run /usr/bin/doorface"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/doorface.service >"$work/verify.log" 2>&1 ||
    fail "systemd-analyze verify: $(cat "$work/verify.log")"
  say "systemd-analyze verify: unit ok"
fi
say "files, owners and modes as expected; doorface is system user $uid in group gpio"

# 3. The models step the package offers, from the mirror (no download).
# A clean environment, as after sudo: the Makefile's own MODELS_DIR must not redirect the command.
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin MODEL_MIRROR="$MIRROR" MODEL_NO_DOWNLOAD=1 \
  timeout "$TIMEOUT" doorface-models >"$work/models.log" 2>&1 ||
  fail "doorface-models failed: $(cat "$work/models.log")"
[ -z "$(find /var/lib/doorface/models ! -user doorface)" ] || fail "doorface-models left files not owned by doorface"
setpriv --reuid=doorface --regid=doorface --init-groups -- \
  timeout "$TIMEOUT" doorface models check --models /var/lib/doorface/models >"$work/check.log" 2>&1 ||
  fail "doorface models check (as doorface): $(cat "$work/check.log"); doorface-models said: $(cat "$work/models.log"); $(ls -la /var/lib/doorface/models)"
say "doorface-models fetched the models; models check as doorface ok"
# MobileFaceNet's ONNX made by the packaged converter from a mirror that holds only the TFLite for it.
mkdir "$work/tflite-mirror"
for f in "$MIRROR"/*; do
  [ "${f##*/}" = mobilefacenet_sirius.onnx ] || ln -s "$f" "$work/tflite-mirror/"
done
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin MODEL_MIRROR="$work/tflite-mirror" MODEL_NO_DOWNLOAD=1 \
  DOORFACE_MODELS_DIR="$work/models-converted" timeout "$TIMEOUT" doorface-models >"$work/convert.log" 2>&1 ||
  fail "doorface-models from a mirror with only the TFLite failed: $(cat "$work/convert.log")"
cmp -s "$work/models-converted/mobilefacenet_sirius.onnx" "$MIRROR/mobilefacenet_sirius.onnx" ||
  fail "the packaged converter's mobilefacenet_sirius.onnx differs from the mirror's: $(cat "$work/convert.log")"
say "doorface-models converted MobileFaceNet's TFLite into the mirror's exact ONNX"

# 4. The unit's ExecStart, as the unit's user, in its working directory, with the simulated board.
execstart=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/doorface.service)
[[ "$execstart" == *"--hw gpio"* ]] || fail "ExecStart has no --hw gpio: $execstart"
execstart=${execstart/--hw gpio/--hw sim}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
read -r -a cmd <<<"$execstart"
(cd /var/lib/doorface && exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DOORFACE_LISTEN="127.0.0.1:$port" \
  setpriv --reuid=doorface --regid=doorface --init-groups -- "${cmd[@]}") >"$work/serve.log" 2>&1 &
daemon=$!
deadline=$(( $(date +%s) + TIMEOUT ))
until [ "$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/healthz")" = 200 ]; do
  kill -0 "$daemon" 2>/dev/null || fail "the service exited before answering /healthz: $(tail -20 "$work/serve.log")"
  [ "$(date +%s)" -lt "$deadline" ] || fail "no /healthz within ${TIMEOUT}s: $(tail -20 "$work/serve.log")"
  sleep 0.5
done
user=$(ps -o user= -p "$(pgrep -P "$daemon" -x doorface || echo "$daemon")" | tr -d ' ')
[ "$user" = doorface ] || fail "the daemon runs as '$user', want doorface"
check_stat /var/lib/doorface/tokens.json "600 doorface doorface"
check_stat /var/lib/doorface/tls.key "600 doorface doorface"
say "service (ExecStart, --hw sim) answers /healthz as user doorface; tokens.json 0600"
kill -TERM "$daemon"
for _ in $(seq 1 150); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.2; done
kill -0 "$daemon" 2>/dev/null && fail "the service did not stop within 30 s of SIGTERM"
wait "$daemon" || fail "the service exited non-zero on SIGTERM: $(tail -20 "$work/serve.log")"
daemon=""

# 5. Purge removes the package's files (the data directory is kept by design; the cleanup removes it).
dpkg --purge doorface >"$work/purge.log" 2>&1 || fail "dpkg --purge failed: $(cat "$work/purge.log")"
for f in /usr/bin/doorface /usr/bin/doorface-models /lib/systemd/system/doorface.service /etc/doorface/doorface.yaml; do
  [ ! -e "$f" ] || fail "$f still present after purge"
done
[ -d /var/lib/doorface ] || fail "purge removed /var/lib/doorface (the audit history must be kept)"
say "purge removed the package's files and kept /var/lib/doorface"
say "PASS"
