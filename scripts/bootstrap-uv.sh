#!/usr/bin/env bash
# Puts a pinned uv at .tools/bin/uv using only the machine's Python 3.11 and PyPI.
# Usage: scripts/bootstrap-uv.sh UV_VERSION
set -euo pipefail
version=${1:?uv version}
tools=.tools
if [ -x "$tools/bin/uv" ] && [ "$("$tools/bin/uv" --version | cut -d' ' -f2)" = "$version" ]; then
  exit 0
fi
python=$(command -v python3.11 || command -v python3 || true)
if [ -z "$python" ]; then
  echo "error: Python 3.11 is required (apt-get install python3 python3-venv)" >&2
  exit 1
fi
rm -rf "$tools"
if "$python" -m venv "$tools" 2>/dev/null; then
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$version"
elif "$python" -m pip --version >/dev/null 2>&1; then
  # Debian without python3-venv: install uv's wheel into a plain folder instead.
  "$python" -m pip install --quiet --disable-pip-version-check --target "$tools/lib" "uv==$version"
  mkdir -p "$tools/bin"
  ln -sf "$(pwd)/$tools/lib/bin/uv" "$tools/bin/uv"
else
  echo "error: neither 'python3 -m venv' nor pip works; run: apt-get install python3-venv python3-pip" >&2
  exit 1
fi
"$tools/bin/uv" --version
