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
# optional training soundfonts (dlmir.data.synth.SOUNDFONTS); each is installed on its own, a missing one is skipped
optional=()
[ -f /usr/share/sounds/sf3/MuseScore_General_Full.sf3 ] || optional+=(musescore-general-soundfont)
[ -f /usr/share/sounds/sf3/FluidR3Mono_GM.sf3 ] || optional+=(fluidr3mono-gm-soundfont)
[ -f /usr/share/sounds/sf2/sf_GMbank.sf2 ] || optional+=(csound-soundfont)
[ -f /usr/share/sounds/sf2/OPL-3_FM_128M.sf2 ] || optional+=(opl3-soundfont)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing system packages: ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: dataset rendering needs these Debian packages: ${need[*]} (install them with your package manager)" >&2
  fi
fi
if [ ${#optional[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  [ ${#need[@]} -gt 0 ] || apt-get update -qq >/dev/null || true  # the required block above updated already
  for pkg in "${optional[@]}"; do
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null 2>&1 \
      || echo "warning: optional soundfont package $pkg not installed" >&2
  done
  # musescore-general-soundfont points the MuseScore_General.sf3 link at its Full file; keep the Lite one there
  if [ -f /usr/share/sounds/sf3/MuseScore_General_Lite.sf3 ]; then
    update-alternatives --set MuseScore_General.sf3 /usr/share/sounds/sf3/MuseScore_General_Lite.sf3 >/dev/null 2>&1 || true
  fi
fi
[ -d .venv ] || python3 -m venv .venv
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
.venv/bin/python -m pip install -q --upgrade pip
# torch is pinned here, in the same pip command, so pip takes the local CPU build instead of a CUDA one.
.venv/bin/python -m pip install -q "torch==2.13.0" -e ".${extra}"
