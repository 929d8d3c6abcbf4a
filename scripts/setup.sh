#!/usr/bin/env bash
# Install everything pytest-snixbuild needs on a Debian or Ubuntu machine, idempotently:
# system packages (runc, FUSE, a static busybox, Nix for the parity tests, image tools),
# a virtualenv in .venv, and the package itself (editable) with its test and docs extras.
# Run as root, or with sudo. Set SNIX_SKIP_APT=1 to skip the system packages.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(runc fuse3 libfuse2 busybox-static nix-bin b3sum ripgrep umoci skopeo oci-image-tool docker.io gcc libc6-dev python3-venv)

if [ "${SNIX_SKIP_APT:-0}" != 1 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
  fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.snix-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test,docs]'
  touch "$stamp"
fi
echo "setup: ready ($(.venv/bin/snixbuild --version))"
