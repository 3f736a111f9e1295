#!/usr/bin/env bash
# Test of hugepage-setup (run as root): check, set up, check again (must be ready),
# set up again (must change nothing). Leaves 256 x 2 MiB pages reserved and
# hugetlbfs mounted at /dev/hugepages, which is what the setup is for; touches nothing else.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SETUP=$HERE/hugepage-setup
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (it reserves hugepages and mounts hugetlbfs)"
pkg-config --exists libdpdk || fail "libdpdk is not installed: the readiness check cannot pass (apt-get install dpdk libdpdk-dev)"

echo "== before"
"$SETUP" --check
echo "(exit $?)"

echo "== setup"
"$SETUP" --pages 256 || fail "setup failed"

echo "== after"
out=$("$SETUP" --check) || { echo "$out"; fail "--check says not ready after setup"; }
echo "$out"
[ "$(echo "$out" | tail -n 1)" = ready ] || fail "--check did not end with 'ready'"

echo "== setup again (idempotent)"
mounts_before=$(grep -c hugetlbfs /proc/mounts)
again=$("$SETUP" --pages 256) || fail "second setup failed"
echo "$again"
echo "$again" | grep -q "already reserved" || fail "second setup reserved pages again"
echo "$again" | grep -q "already mounted" || fail "second setup mounted again"
[ "$(grep -c hugetlbfs /proc/mounts)" -eq "$mounts_before" ] || fail "second setup added a mount"

echo "== bad arguments are refused"
"$SETUP" --pages lots >/dev/null 2>&1 && fail "--pages lots accepted"
"$SETUP" --nonsense >/dev/null 2>&1 && fail "--nonsense accepted"

echo "PASS"
