"""dlmir.frontends.presets: the one chord-CQT definition and front ends rebuilt from saved configs."""

from __future__ import annotations

import librosa
import pytest

from dlmir.errors import ParameterError
from dlmir.frontends import CQT, KINDS, frontend
from dlmir.frontends.presets import C1_HZ, CHORD_CQT, chord_frontend, frontend_from_config


def test_chord_cqt_settings():
    assert C1_HZ == librosa.note_to_hz("C1")
    assert CHORD_CQT == {
        "frontend": "CQT",
        "sr": 22050,
        "hop_length": 512,
        "fmin": C1_HZ,
        "n_bins": 192,
        "bins_per_octave": 24,
    }
    fe = chord_frontend()
    assert isinstance(fe, CQT)
    assert {k: fe.config[k] for k in CHORD_CQT} == CHORD_CQT
    assert chord_frontend(bins_per_octave=36, n_bins=252).config["bins_per_octave"] == 36


@pytest.mark.parametrize("kind", KINDS)
def test_every_frontend_is_rebuilt_from_its_config(kind):
    fe = frontend(kind, sr=16000, hop_length=256)
    again = frontend_from_config(fe.config)
    assert type(again) is type(fe) and again.config == fe.config


def test_unknown_or_foreign_configs_raise():
    with pytest.raises(ParameterError, match="unknown front end 'Wavelet'"):
        frontend_from_config({"frontend": "Wavelet", "sr": 22050})
    with pytest.raises(ParameterError, match="'frontend' class name"):
        frontend_from_config({"sr": 22050})
    with pytest.raises(ParameterError, match="does not fit CQT"):
        frontend_from_config({**CHORD_CQT, "n_mels": 128})
