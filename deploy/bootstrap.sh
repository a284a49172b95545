#!/usr/bin/env bash
# Set up everything chamberguard needs on a fresh Debian 12 machine, idempotently:
#   deploy/bootstrap.sh run    — what the service needs
#   deploy/bootstrap.sh test   — plus what the test suite needs (chromium, postgresql, ...)
#   deploy/bootstrap.sh bench  — plus the benchmark baselines (dnsmasq, dnsperf, tshark)
# System packages are installed only when running as root (otherwise it says what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-run}"
VENV="${VENV:-.venv}"

RUN_PKGS="python3 python3-venv python3-dev gcc iproute2 nftables libnftables1 dnsmasq-base libpcap0.8"
TEST_PKGS="chromium postgresql fonts-dejavu-core libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 systemd poppler-utils sqlite3 mmdebstrap systemd-container util-linux git procps freeradius-utils hostapd libasan8 libubsan1"
BENCH_PKGS="dnsperf tshark"

pkgs="$RUN_PKGS"
case "$what" in
  run) ;;
  test) pkgs="$pkgs $TEST_PKGS" ;;
  bench) pkgs="$pkgs $TEST_PKGS $BENCH_PKGS" ;;
  *) echo "usage: $0 run|test|bench" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing system packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "bootstrap: missing system packages (install as root):$missing" >&2
  fi
fi

PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
extras="test"
[ "$what" = run ] && extras="postgres,pdf"
# The stamp covers pyproject.toml and the C accelerators' sources: a change to either rebuilds.
srchash="$(cat pyproject.toml $(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.c' -not -path './.venv/*') 2>/dev/null | sha256sum | cut -c1-16)"
stamp="$VENV/.installed-$what-$srchash"
if [ ! -f "$stamp" ]; then
  "$VENV/bin/pip" install -q -U pip
  "$VENV/bin/pip" install -q -e ".[$extras]"
  touch "$stamp"
fi
echo "bootstrap: ready ($what)"
