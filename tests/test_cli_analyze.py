"""`dlmir analyze` on every shipped model (and a generic one): figures, summary.md, numbers.json, errors."""

from __future__ import annotations

import json

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

import dlmir.cli.analyze  # noqa: F401  (registers `dlmir analyze`)
from dlmir.cli.app import app
from dlmir.filters import octave_matrix
from dlmir.models import load

runner = CliRunner()
SR = 22050


def _signal(seconds: float, midis: tuple[int, ...], seed: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * 440.0 * 2 ** ((m - 69) / 12) * k * t) / k for m in midis for k in (1, 2, 3))
    clicks = np.zeros_like(t)
    clicks[:: SR // 2] = 1.0  # 120 BPM, so the tempo model has something to lock on
    rng = np.random.default_rng(seed)
    return (0.2 * y / np.abs(y).max() + 0.3 * clicks + 0.001 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    root = tmp_path_factory.mktemp("analyze")
    examples = root / "examples"
    examples.mkdir()
    sf.write(examples / "a.wav", _signal(2.0, (57, 60, 64), 0), SR)  # A minor
    sf.write(examples / "c.wav", _signal(2.0, (48, 52, 55), 1), SR)  # C major
    song = root / "song.wav"
    sf.write(song, _signal(3.0, (55, 59, 62), 2), SR)  # G major
    return examples, song


def _run(args):
    result = runner.invoke(app, ["analyze", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _common(audio, out):
    examples, song = audio
    return ["-o", str(out), "--audio", str(song), "--examples", str(examples), "--seconds", "1", "--units", "3",
            "--top", "2"]  # fmt: skip


@pytest.mark.parametrize("name", ["default", "chordnet", "tempo", "instruments"])
def test_analyze_shipped_model_writes_figures_and_summary(name, audio, tmp_path):
    out = tmp_path / name
    chosen = ["--class", "C#"] if name == "default" else []  # the chroma's saliency for a chosen pitch class
    text = _run([name, *_common(audio, out), *chosen])
    figures = ["filters", "activations", "saliency"] + (["designed"] if name in ("default", "tempo") else [])
    for fig in figures:
        assert (out / f"{fig}.png").stat().st_size > 5000, fig
        assert f"({fig})" in text
    summary = (out / "summary.md").read_text()
    for fig in figures:
        assert f"]({fig}.png)" in summary
    numbers = json.loads((out / "numbers.json").read_text())
    acts = numbers["activations"]
    assert acts["excerpts"] == 4 and len(acts["units"]) == 3  # 2 files x 2 one-second excerpts
    assert all(len(hits) == 2 for hits in acts["units"].values())
    assert numbers["saliency"]["seconds"] == pytest.approx(3.0)
    model = load(name)
    if name == "default":
        w = model["chroma"].weight.detach().double().numpy()
        o = octave_matrix(192, 24, fmin=model.config["fmin"]).astype(np.float64)
        expected = np.linalg.norm(w - o) / np.linalg.norm(o)
        assert numbers["designed"]["relative_change"] == pytest.approx(expected, rel=1e-9)
        assert numbers["designed"]["tensors"]["stages.chroma.weight"]["relative"] == pytest.approx(expected, rel=1e-6)
        assert "octave-equivalent share" in summary
        assert numbers["saliency"]["class"] == "C#"
    elif name == "tempo":
        tensors = numbers["designed"]["tensors"]
        assert tensors["stages.stft.real"]["relative"] == 0.0 and tensors["stages.mel.weight"]["relative"] == 0.0
        designed = np.full(8, 1 / 8)
        expected = np.linalg.norm(model.band_weights() - designed) / np.linalg.norm(designed)
        assert tensors["stages.weights.weight"]["relative"] == pytest.approx(expected, rel=1e-9)
        assert numbers["saliency"]["class"].endswith("BPM")
    elif name == "chordnet":
        assert numbers["designed"]["reference"] == "seeded init"
        assert numbers["saliency"]["class"] in model.labels
        assert numbers["filters"]["layer"].endswith("conv1")
    else:
        assert numbers["saliency"]["class"] in model.classes


def test_analyze_generic_model(tmp_path):
    from dlmir.models import InstrumentMLP, save

    run = tmp_path / "mlp"
    save(InstrumentMLP(hidden=(8,), seed=0), run)
    text = _run([str(run)])
    assert "skipped activations" in text and "skipped saliency" in text
    assert (run / "analysis" / "filters.png").exists() and (run / "analysis" / "summary.md").exists()
    numbers = json.loads((run / "analysis" / "numbers.json").read_text())
    assert numbers["filters"]["layer"] == "net.dense1"
    assert all(t["change_norm"] == 0.0 for t in numbers["designed"]["tensors"].values())  # freshly built = its seed


def test_analyze_small_trained_kinds(audio, tmp_path):
    from dlmir.frontends.presets import chord_frontend
    from dlmir.models import ChordCNN, FretboardNet, save, set_frontend

    models = {
        "cnn": ChordCNN(channels=(4, 4), pitch_pool=(2, 2), embedding=8, hidden=8, temporal_layers=1, seed=0),
        "fretboard": FretboardNet(
            context=4,
            channels=(4, 4, 4),
            kernels=((3, 13), (3, 9), (1, 5)),
            pools=((1, 2), (1, 2), (1, 2)),
            hidden=16,
            seed=0,
        ),  # fmt: skip
    }
    for name, model in models.items():
        with torch.no_grad():
            next(model.parameters()).add_(0.01)
        run = save(set_frontend(model, chord_frontend()), tmp_path / name)
        _run([str(run), *_common(audio, run / "analysis")])
        numbers = json.loads((run / "analysis" / "numbers.json").read_text())
        assert (run / "analysis" / "saliency.png").exists() and len(numbers["activations"]["units"]) == 3
    fret = json.loads((tmp_path / "fretboard" / "analysis" / "numbers.json").read_text())
    assert any(u.startswith(("E ", "A ", "D ", "G ", "B ", "e ")) for u in fret["activations"]["units"])
    cnn = json.loads((tmp_path / "cnn" / "analysis" / "numbers.json").read_text())
    assert cnn["designed"]["reference"] == "seeded init"
    moved = {k for k, t in cnn["designed"]["tensors"].items() if t["change_norm"] > 0}
    assert moved == {"features.stages.log.gain"}  # the one parameter nudged above: 100 -> 100.01
    assert cnn["designed"]["tensors"]["features.stages.log.gain"]["relative"] == pytest.approx(1e-4, rel=1e-3)


def test_analyze_errors(audio, tmp_path):
    result = runner.invoke(app, ["analyze", str(tmp_path / "nothing"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "not a saved model folder" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["analyze", "default", "-o", str(tmp_path / "o"), "--examples", str(empty)])
    assert result.exit_code == 2 and "no audio files" in result.output
    result = runner.invoke(app, ["analyze", "default", "-o", str(tmp_path / "o"), "--units", "0"])
    assert result.exit_code == 2 and "units and top must be >= 1" in result.output
    if not torch.cuda.is_available():
        result = runner.invoke(app, ["analyze", "default", "-o", str(tmp_path / "o"), "--device", "cuda"])
        assert result.exit_code == 2 and "cannot run the model on device 'cuda'" in result.output


def test_analyze_transcriber_and_pretraining_runs(audio, tmp_path):
    from dlmir.models import ChordCNN, save
    from dlmir.models.transcriber import Transcriber
    from dlmir.pretrain.init import init_from
    from dlmir.pretrain.objective import MaskedCQT

    trans = save(Transcriber(channels=(4, 4, 4), head_channels=4, seed=0), tmp_path / "transcriber")
    _run([str(trans), *_common(audio, trans / "analysis")])
    numbers = json.loads((trans / "analysis" / "numbers.json").read_text())
    assert numbers["model"]["kind"] == "transcriber" and numbers["filters"]["layer"] == "conv1.0"
    pitches = [librosa.midi_to_note(p, unicode=False) for p in range(21, 109)]
    assert numbers["saliency"]["class"] in pitches and numbers["saliency"]["top_class"] in pitches
    assert len(numbers["activations"]["units"]) == 3

    trunk = {"model": "ChordCNN", "channels": [4, 4], "pitch_pool": [2, 2], "embedding": 8, "seed": 0}
    pre = MaskedCQT(trunk, hidden=8, seed=0)
    with torch.no_grad():
        pre.trunk["conv1"].weight.mul_(-1.5)  # "pre-training" moved the trunk away from its seeded start
    pre_run = save(pre, tmp_path / "pretrain")
    _run([str(pre_run), *_common(audio, pre_run / "analysis")])
    pnum = json.loads((pre_run / "analysis" / "numbers.json").read_text())
    assert pnum["model"]["kind"] == "pretrain" and pnum["saliency"]["class"].startswith("embedding")
    assert pnum["designed"]["tensors"]["trunk.stages.conv1.weight"]["relative"] == pytest.approx(2.5)  # |-1.5 - 1|

    net = ChordCNN(channels=(4, 4), pitch_pool=(2, 2), embedding=8, hidden=8, temporal_layers=1, seed=0)
    record = init_from(net, pre_run)
    fine = save(net, tmp_path / "fine", extra={"train": {"init": record}})
    _run([str(fine), *_common(audio, fine / "analysis")])
    fnum = json.loads((fine / "analysis" / "numbers.json").read_text())
    assert fnum["designed"]["reference"] == "seeded init + pre-trained trunk"
    assert all(t["change_norm"] == 0.0 for t in fnum["designed"]["tensors"].values())  # exactly its start
