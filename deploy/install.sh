#!/usr/bin/env bash
# Install (or upgrade) chamberguard on a Debian 12 gateway in one command, idempotently:
#
#   deploy/install.sh --topology inline|resolver-only|mirror [--password-stdin] [--no-start]
#                     [--admin NAME] [--source DIR]
#   deploy/install.sh --uninstall [--purge]
#
# It does every step deploy/README.md used to list by hand: system packages, the code in
# $PREFIX with its virtualenv, the two system users and the data directory, the config for the
# topology (an existing config is never overwritten), forwarding and nftables modules (inline),
# the systemd units, the database migrated, and the first IT account. Run it again after
# `git pull` to upgrade: the services are stopped (the chamber fails open meanwhile), the
# database is migrated with the data kept, and they are started again.
#
# Why a script and not a .deb: the Python dependencies come from PyPI into a virtualenv (as for
# `make run`), which a Debian package could only do by bundling them or by running pip in its
# maintainer scripts; a script says plainly what it does and is the same code the deployment
# test boots under real systemd (tests/deploy/test_systemd_boot.py).
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="${CHAMBERGUARD_PREFIX:-/opt/chamberguard}"
ETC=/etc/chamberguard
CONFIG="$ETC/chamberguard.toml"
UNITS="chamberguard-gate.service chamberguard-web.service chamberguard-backup.timer"

topology=""
password_stdin=0
start=1
uninstall=0
purge=0
admin="it-admin"

usage() {
  sed -n '3,7p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --topology) topology="${2:-}"; shift 2 ;;
    --topology=*) topology="${1#*=}"; shift ;;
    --password-stdin) password_stdin=1; shift ;;
    --admin) admin="${2:-}"; shift 2 ;;
    --no-start) start=0; shift ;;
    --source) SRC="$(cd "${2:?}" && pwd)"; shift 2 ;;
    --uninstall) uninstall=1; shift ;;
    --purge) purge=1; shift ;;
    -h|--help) usage ;;
    *) echo "install: unknown argument $1" >&2; usage ;;
  esac
done

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
# systemd is PID 1 on a gateway; in an image being prepared (or a chroot) it is not, and the
# units are then only enabled, to start at the next boot.
systemd_running() { [ -d /run/systemd/system ]; }

# -- uninstall ----------------------------------------------------------------------------------
if [ "$uninstall" = 1 ]; then
  if systemd_running; then
    # Stopping the gate runs its ExecStopPost: the fail-open table replaces the enforcing one,
    # so members keep working DNS (sent on to the upstream resolver) and nobody is restricted.
    systemctl disable --now $UNITS 2>/dev/null || true
  elif [ -x "$PREFIX/.venv/bin/chamberguard" ] && [ -f "$CONFIG" ]; then
    CHAMBERGUARD_CONFIG="$CONFIG" "$PREFIX/.venv/bin/chamberguard" gate --fail-open || true
  fi
  for u in $UNITS chamberguard-backup.service; do rm -f "/etc/systemd/system/$u"; done
  systemd_running && systemctl daemon-reload
  rm -f /usr/local/bin/chamberguard /etc/sysctl.d/60-chamberguard.conf \
        /etc/modules-load.d/chamberguard.conf
  if [ "$purge" = 1 ]; then
    rm -rf "$PREFIX" "$ETC" /var/lib/chamberguard /etc/sysusers.d/chamberguard.conf \
           /etc/tmpfiles.d/chamberguard.conf
    say "removed the code, the config and the data (backups in /var/backups/chamberguard kept)"
  else
    say "removed the units; kept $PREFIX, $ETC and /var/lib/chamberguard (evidence): --purge removes them"
  fi
  if command -v nft >/dev/null && nft list table inet chamberguard >/dev/null 2>&1; then
    say "the fail-open table 'inet chamberguard' stays, so the chamber's DNS keeps working;"
    say "once DHCP no longer hands out this machine as DNS: nft delete table inet chamberguard"
  fi
  exit 0
fi

# -- install or upgrade -------------------------------------------------------------------------
if [ -z "$topology" ]; then
  [ -f "$CONFIG" ] || die "--topology inline|resolver-only|mirror is needed for a first install"
  topology="$(sed -n 's/^topology *= *"\(.*\)".*/\1/p' "$CONFIG" | head -1)"
fi
case "$topology" in
  inline|resolver-only|mirror) ;;
  *) die "unknown topology '$topology' (inline, resolver-only or mirror)" ;;
esac

if [ "$password_stdin" = 1 ]; then
  IFS= read -r admin_password || die "--password-stdin: no password on standard input"
  [ -n "$admin_password" ] || die "--password-stdin: the password is empty"
fi

say "system packages"
export DEBIAN_FRONTEND=noninteractive
pkgs="systemd sqlite3 ca-certificates"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

was_active=""
if systemd_running; then
  for u in chamberguard-web.service chamberguard-gate.service; do
    systemctl is-active --quiet "$u" && was_active="$was_active $u"
  done
  if [ -n "$was_active" ]; then
    say "upgrade: stopping$was_active (the chamber is failed open until they start again)"
    systemctl stop chamberguard-web.service chamberguard-gate.service
  fi
fi

if [ "$SRC" != "$PREFIX" ]; then
  say "code into $PREFIX"
  mkdir -p "$PREFIX"
  # Replace the code wholesale (an upgrade must not keep modules the release removed); the
  # virtualenv stays and bootstrap.sh brings it up to date.
  find "$PREFIX" -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {} +
  # The tree as it is (a clone or an unpacked release), without local state.
  tar -C "$SRC" --exclude=./.venv --exclude=./var --exclude=./.git --exclude='*.so' \
      --exclude=__pycache__ --exclude='*.egg-info' --exclude=./build -cf - . \
    | tar -C "$PREFIX" -xf -
fi
say "dependencies (deploy/bootstrap.sh run)"
VENV="$PREFIX/.venv" "$PREFIX/deploy/bootstrap.sh" run
ln -sf "$PREFIX/.venv/bin/chamberguard" /usr/local/bin/chamberguard

say "users and directories"
install -D -m644 "$PREFIX/deploy/sysusers.d/chamberguard.conf" /etc/sysusers.d/chamberguard.conf
systemd-sysusers /etc/sysusers.d/chamberguard.conf
install -D -m644 "$PREFIX/deploy/tmpfiles.d/chamberguard.conf" /etc/tmpfiles.d/chamberguard.conf
install -d -m750 -o root -g chamberguard "$ETC"
if [ ! -f "$CONFIG" ]; then
  say "config for the $topology topology: $CONFIG (edit it, then: chamberguard doctor)"
  install -m640 -o root -g chamberguard "$PREFIX/deploy/config/$topology.toml" "$CONFIG"
else
  say "keeping the existing $CONFIG"
fi
systemd-tmpfiles --create /etc/tmpfiles.d/chamberguard.conf

if [ "$topology" = inline ]; then
  say "inline: IP forwarding and nftables modules at boot"
  install -D -m644 "$PREFIX/deploy/sysctl.d/60-chamberguard.conf" /etc/sysctl.d/60-chamberguard.conf
  install -D -m644 "$PREFIX/deploy/modules-load.d/chamberguard.conf" /etc/modules-load.d/chamberguard.conf
  # Applied now where this machine allows it (a container may not); at boot in any case.
  sysctl -q -p /etc/sysctl.d/60-chamberguard.conf 2>/dev/null || say "sysctl not applied now (applies at boot)"
  if command -v modprobe >/dev/null; then
    grep -v '^#' /etc/modules-load.d/chamberguard.conf | xargs -r modprobe -a 2>/dev/null || true
  fi
fi

say "systemd units"
for f in "$PREFIX"/deploy/systemd/chamberguard-*; do
  sed "s#/opt/chamberguard#$PREFIX#g" "$f" > "/etc/systemd/system/$(basename "$f")"
  chmod 644 "/etc/systemd/system/$(basename "$f")"
done
systemd_running && systemctl daemon-reload
systemctl enable $UNITS >/dev/null 2>&1 || systemctl enable $UNITS

say "database"
# As the gate's user with the units' UMask=0007: the web app (group chamberguard) must be able
# to write the SQLite database and its WAL files too.
cg() {
  runuser -u chamberguard -- sh -c 'umask 0007; exec env CHAMBERGUARD_CONFIG="$0" "$@"' \
    "$CONFIG" "$PREFIX/.venv/bin/chamberguard" "$@"
}
cg db upgrade
# Files an earlier install made without the group's write bit (SQLite database, WAL, spool).
find /var/lib/chamberguard -user chamberguard ! -perm -g+rw -exec chmod g+rw {} + 2>/dev/null || true

# The first IT account, once: a later run (an upgrade) finds it and leaves it alone.
if [ "$password_stdin" = 1 ]; then password="$admin_password"; else
  password="$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"; fi
if out="$(printf '%s\n' "$password" | cg user add "$admin" --role it_admin --password-stdin 2>&1)"; then
  if [ "$password_stdin" = 1 ]; then say "first IT login: $admin (the password given)"
  else say "first IT login: $admin / $password  (shown this once; change it after logging in)"; fi
elif printf '%s' "$out" | grep -q "already exists"; then
  say "IT login $admin exists: left as it is"
else
  die "could not create the IT login: $out"
fi

if [ "$start" = 1 ] && systemd_running; then
  say "starting chamberguard-gate and chamberguard-web"
  systemctl restart chamberguard-gate.service chamberguard-web.service
  systemctl start chamberguard-backup.timer
elif [ "$start" = 1 ]; then
  say "systemd is not running here: the units start at the next boot"
fi
say "done. Next: edit $CONFIG for this chamber, then run: chamberguard doctor"
