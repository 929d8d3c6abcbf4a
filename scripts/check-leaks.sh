#!/usr/bin/env bash
# After the test suite: fail when anything leaked. Checks
#   1. FUSE mounts (fuse, fuseblk, fuse.* in /proc/mounts);
#   2. runc containers in /run/runc and in every runc state directory (.runc) under the roots;
#   3. running runc processes (runc, runc init);
#   4. bundle directories (<prefix>-<pid>-<32 hex>) in the bundle roots (the parents of those .runc
#      directories), except bundles kept on purpose (they hold .snixbuild-kept).
# Each leak is printed with the command that removes it; the exit status is 1 when anything
# leaked, 0 otherwise.
#
# Usage: scripts/check-leaks.sh [DIR...]   (default: ${TMPDIR:-/tmp}/pytest-of-*)
set -uo pipefail

leaks=0
leak() {
  echo "check-leaks: LEAK: $*"
  leaks=$((leaks + 1))
}

roots=()
if [ $# -gt 0 ]; then
  roots=("$@")
else
  for d in "${TMPDIR:-/tmp}"/pytest-of-*; do
    [ -d "$d" ] && roots+=("$d")
  done
fi

# 1. FUSE mounts (mountpoints are octal-escaped in /proc/mounts)
while read -r _source mountpoint fstype _rest; do
  case "$fstype" in
    fuse | fuseblk | fuse.*)
      point=$(printf '%b' "$mountpoint")
      leak "FUSE mount $point ($fstype): remove it with: umount -l '$point'"
      ;;
  esac
done </proc/mounts

# 2. runc containers
state_dirs=()
[ -d /run/runc ] && state_dirs+=(/run/runc)
for root in "${roots[@]}"; do
  [ -d "$root" ] || continue
  while IFS= read -r -d '' dir; do
    state_dirs+=("$dir")
  done < <(find "$root" -xdev -type d -name .runc -prune -print0 2>/dev/null)
done
for state in "${state_dirs[@]}"; do
  for container in "$state"/*/; do
    [ -d "$container" ] || continue
    id=$(basename "$container")
    leak "runc container $id in $state: remove it with: runc --root '$state' delete --force $id"
  done
done

# 3. runc processes (zombies are dead already: only their parent can reap them)
while read -r pid state comm; do
  case "$state" in Z*) continue ;; esac
  case "$comm" in
    runc*)
      args=$(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)
      leak "runc process $pid ($comm${args:+: $args}): stop it with: kill -9 $pid"
      ;;
  esac
done < <(ps -eo pid=,stat=,comm=)

# 4. bundle directories next to each runc state directory
bundle_name='^[a-z0-9][a-z0-9_.]*-[0-9]+-[0-9a-f]{32}$'
for state in "${state_dirs[@]}"; do
  [ "$state" = /run/runc ] && continue
  bundle_root=$(dirname "$state")
  for bundle in "$bundle_root"/*/; do
    [ -d "$bundle" ] || continue
    name=$(basename "$bundle")
    [[ "$name" =~ $bundle_name ]] || continue
    [ -e "$bundle/.snixbuild-kept" ] && continue
    leak "bundle directory ${bundle%/}: remove it with: rm -rf '${bundle%/}' (unmount anything below it first)"
  done
done

if [ "$leaks" -gt 0 ]; then
  echo "check-leaks: $leaks leak(s) after the test suite"
  echo "check-leaks: (scripts/check-leaks.sh lists them; pytest_snixbuild.engine.stale.recover_stale_state(bundle_root) cleans what dead processes left)"
  exit 1
fi
echo "check-leaks: nothing leaked (${#state_dirs[@]} runc state dir(s) checked under ${roots[*]:-no pytest roots})"
