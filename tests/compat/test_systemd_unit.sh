#!/usr/bin/env bash
# dist/nodata.service as `make install` installs it: in PREFIX/lib/systemd/
# system, ExecStart naming the installed PREFIX/bin/nodata (not the staging
# DESTDIR), accepted by `systemd-analyze verify` without one warning (it
# needs no systemd as PID 1: it loads the unit and checks every directive
# and that ExecStart is executable), with the settings docs/serve.md
# promises, and its sandbox rated by `systemd-analyze security`.
set -euo pipefail
: "${ND_SOURCE_DIR:?}" "${ND_BUILD_DIR:?}"
command -v systemd-analyze >/dev/null \
  || { echo "systemd-analyze missing: scripts/install-deps.sh test installs systemd"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*"; exit 1; }

# A plain prefix, then a staged install (DESTDIR) of another prefix, through
# the Makefile's target as a packager would run it.
cmake --install "$ND_BUILD_DIR" --prefix "$work/prefix" >/dev/null
unit=$work/prefix/lib/systemd/system/nodata.service
[ -f "$unit" ] || fail "no $unit"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ "${exec_start%% *}" = "$work/prefix/bin/nodata" ] \
  || fail "ExecStart is '$exec_start', not the installed $work/prefix/bin/nodata"
[ -x "$work/prefix/bin/nodata" ] || fail "the installed program is missing"
"$work/prefix/bin/nodata" --version | grep -q '^nodata ' || fail "installed nodata does not run"

make -s -C "$ND_SOURCE_DIR" install BUILD="$ND_BUILD_DIR" PREFIX=/opt/nodata \
  DESTDIR="$work/stage" >/dev/null
staged=$work/stage/opt/nodata/lib/systemd/system/nodata.service
[ -f "$staged" ] || fail "make install PREFIX=/opt/nodata DESTDIR=... put no unit in $staged"
[ -x "$work/stage/opt/nodata/bin/nodata" ] || fail "make install staged no program"
grep -qx 'ExecStart=/opt/nodata/bin/nodata serve --data /var/lib/nodata' "$staged" \
  || fail "staged unit: $(grep ExecStart= "$staged")"

# Every directive parses and ExecStart is executable: verify prints a line
# for any problem (most, like a bad value, with exit status 0), so any
# output fails. --man=no: it would run man for Documentation=.
verify() { systemd-analyze verify --man=no "$@" 2>&1 || echo "(exit status $?)"; }
out=$(verify "$unit")
[ -z "$out" ] || fail "systemd-analyze verify $unit: $out"
# The same check finds a broken unit (so the empty output above means
# something): a bad value, and a program that is not there.
sed 's/^LimitNOFILE=.*/LimitNOFILE=many/' "$unit" >"$work/nodata.service"
out=$(verify "$work/nodata.service")
grep -q 'ignoring: many' <<<"$out" || fail "verify accepted LimitNOFILE=many: '$out'"
sed "s|^ExecStart=$work/prefix/bin/|ExecStart=$work/nowhere/|" "$unit" >"$work/nodata.service"
out=$(verify "$work/nodata.service")
grep -q 'not executable' <<<"$out" || fail "verify accepted a missing program: '$out'"

# What docs/serve.md ("Running as a service") says the unit does.
want=(
  'User=nodata' 'DynamicUser=yes' 'StateDirectory=nodata'
  'EnvironmentFile=-/etc/nodata/serve.env' 'LimitNOFILE=1048576'
  'KillSignal=SIGTERM' 'TimeoutStopSec=300' 'Restart=on-failure'
  'RestartPreventExitStatus=2' 'ProtectSystem=strict' 'NoNewPrivileges=yes'
  'PrivateTmp=yes' 'WantedBy=multi-user.target'
)
for line in "${want[@]}"; do
  grep -qx "$line" "$unit" || fail "unit lacks '$line'"
done
grep -q -- '--data /var/lib/nodata$' <<<"$exec_start" \
  || fail "ExecStart does not serve the state directory: $exec_start"

# The sandbox: systemd's own exposure score (0 = fully confined, 10 = none)
# stays where the hardening put it (1.5 when written); --threshold makes
# the command fail above it.
systemd-analyze security --offline=yes --threshold=20 "$unit" >"$work/security" 2>&1 \
  || fail "systemd-analyze security rates the unit above 2.0: $(tail -n1 "$work/security")"
echo "systemd unit: ok ($(tail -n1 "$work/security"))"
