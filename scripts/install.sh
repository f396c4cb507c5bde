#!/usr/bin/env bash
# Install dlmir on a fresh machine: system packages (FluidSynth + soundfonts, when apt-get is
# available and they are missing), then a virtual environment in .venv with the CPU build of torch.
# Usage: scripts/install.sh [--dev]     (--dev adds pytest and ruff)
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v fluidsynth >/dev/null 2>&1 || need+=(fluidsynth)
[ -f /usr/share/sounds/sf2/TimGM6mb.sf2 ] || need+=(timgm6mb-soundfont)
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || need+=(fluid-soundfont-gm)
ls /usr/share/sounds/sf3/MuseScore_General* >/dev/null 2>&1 || need+=(musescore-general-soundfont-small)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing system packages: ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: dataset rendering needs these Debian packages: ${need[*]} (install them with your package manager)" >&2
  fi
fi
[ -d .venv ] || python3 -m venv .venv
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
.venv/bin/python -m pip install -q --upgrade pip
# torch is pinned here, in the same pip command, so pip takes the local CPU build instead of a CUDA one.
.venv/bin/python -m pip install -q "torch==2.13.0" -e ".${extra}"
