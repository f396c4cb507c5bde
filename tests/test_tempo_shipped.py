"""The shipped learned tempo cascade (`dlmir.models.load("tempo")`, the default of `dlmir tempo` and `dlmir beats`)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from dlmir.frontends.tempo import Tempo
from dlmir.models import load, read_config, shipped_model_dir
from dlmir.rhythm.tempo import estimate_tempo, load_tempo_model

SR = 22050


def _clicks(bpm: float, seconds: float = 10.0) -> np.ndarray:
    y = np.zeros(int(SR * seconds), np.float32)
    for t in np.arange(0.1, seconds, 60.0 / bpm):
        i = int(t * SR)
        y[i : i + 200] += np.hanning(400)[200:]
    return y


def test_the_shipped_tempo_is_a_small_learned_cascade() -> None:
    model = load("tempo")
    assert isinstance(model, Tempo) and load_tempo_model("tempo").config == model.config
    assert (shipped_model_dir("tempo") / "model.safetensors").stat().st_size < 100_000
    designed = Tempo(**{k: v for k, v in model.config.items() if k != "frontend"})
    # learned: the band weights left their designed uniform values
    assert not np.allclose(model.band_weights(), designed.band_weights())
    assert "designed" in read_config("tempo")


@pytest.mark.parametrize("bpm", [70.0, 90.0, 100.0, 120.0, 140.0])
def test_click_tracks_give_their_tempo_within_1_percent(bpm: float) -> None:
    assert estimate_tempo(_clicks(bpm), SR, model="tempo").bpm1 == pytest.approx(bpm, rel=0.01)


def test_the_cli_uses_the_shipped_model_and_designed_on_request(tmp_path) -> None:
    import soundfile as sf

    import dlmir.cli.tempo  # noqa: F401  (registers `dlmir tempo`)
    from dlmir.cli.app import app

    path = tmp_path / "clicks.wav"
    sf.write(path, _clicks(100.0), SR)
    runner = CliRunner()
    learned = runner.invoke(app, ["tempo", str(path)])
    designed = runner.invoke(app, ["tempo", str(path), "--designed"])
    assert learned.exit_code == 0 and designed.exit_code == 0, learned.output + designed.output
    want_learned = estimate_tempo(_clicks(100.0), SR, model="tempo").line()
    want_designed = estimate_tempo(_clicks(100.0), SR, model="designed").line()
    assert learned.output.strip() == want_learned and designed.output.strip() == want_designed
    assert float(learned.output.split()[0]) == pytest.approx(100.0, rel=0.01)
