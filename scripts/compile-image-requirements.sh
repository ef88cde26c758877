#!/usr/bin/env bash
# Compile every image's requirements.txt from its requirements.in with uv.lock as constraints, so the
# images install exactly the versions the project is tested with (one lock for the project and the
# images). tests/assets/test_image_requirements.py fails when a file and uv.lock disagree.
# Usage: scripts/compile-image-requirements.sh   (from the repository root; needs PyPI for metadata)
set -euo pipefail

UV=${UV:-.tools/bin/uv}
# The images' platform: python:3.11 slim (Debian bookworm, glibc 2.36) on x86_64, and the Functions host.
PLATFORM=(--python-version 3.11 --python-platform x86_64-manylinux_2_28)
IMAGES=(scoring drift ingest functions aml/environments/train)

lock=$(mktemp)
trap 'rm -f "$lock"' EXIT
"$UV" export --locked --no-hashes --no-emit-project --all-groups --quiet > "$lock"

for dir in "${IMAGES[@]}"; do
  out="$dir/requirements.txt"
  {
    echo "# Generated from $dir/requirements.in with uv.lock as constraints by"
    echo "# scripts/compile-image-requirements.sh: edit the .in file and rerun it, never this file."
    "$UV" pip compile "$dir/requirements.in" --constraint "$lock" "${PLATFORM[@]}" \
      --no-header --no-annotate --quiet
  } > "$out.tmp"
  mv "$out.tmp" "$out"
  echo "wrote $out"
done
