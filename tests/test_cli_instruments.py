"""``dlmir instrument``, ``dlmir evaluate instruments`` and ``dlmir train instruments`` (typer's CliRunner): many
files with a bad one, silence, class folders named by aliases, a tiny training run; the shipped default on
rendered notes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

import dlmir.cli.instruments  # noqa: F401  (registers the commands)
from dlmir.cli.app import app
from dlmir.instruments.recognition import SHIPPED_DIR

SR = 22050
TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
runner = CliRunner()
LINE = re.compile(r"^(?P<file>.+): (?P<answers>[a-z_]+ [01]\.\d\d(, [a-z_]+ [01]\.\d\d)*)( \(low confidence\))?$")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tone(f0: float, *, partials: int = 6, decay: float = 0.8, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * k * f0 * t) / k**1.5 for k in range(1, partials + 1))
    return (0.5 * y / np.max(np.abs(y)) * np.exp(-t / decay) * np.minimum(1, t / 0.01)).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A small untrained CNN with linear baselines beside it (fitted on random features)."""
    from dlmir.instruments.baselines import fit_baseline
    from dlmir.models import save
    from dlmir.models.instruments import default_classes
    from dlmir.train.instruments import build_model

    folder = tmp_path_factory.mktemp("model") / "tiny"
    save(build_model("cnn", seed=0, channels=(4, 4, 8, 8), embedding=8), folder)
    rng = np.random.default_rng(0)
    classes = default_classes()
    x = rng.normal(size=(60, 120)) + np.repeat(np.arange(15), 4)[:, None]
    labels = [classes[i] for i in np.repeat(np.arange(15), 4)]
    for kind in ("svm", "logreg"):
        fit_baseline(x, labels, kind=kind, classes=classes).save(folder / "baselines" / f"{kind}.json")
    return folder


def _answers(stdout: str) -> dict[str, list[tuple[str, float]]]:
    out = {}
    for line in stdout.strip().splitlines():
        m = LINE.match(line)
        assert m, f"unexpected output line {line!r}"
        out[Path(m["file"]).name] = [(a.split()[0], float(a.split()[1])) for a in m["answers"].split(", ")]
    return out


def test_many_files_a_bad_one_is_reported_and_skipped(tmp_path: Path, tiny_model: Path) -> None:
    sf.write(tmp_path / "a.wav", _tone(220.0), SR)
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    sf.write(tmp_path / "b.flac", _tone(523.0, partials=2), SR)
    sf.write(tmp_path / "quiet.wav", np.zeros(SR, dtype=np.float32), SR)
    files = [str(tmp_path / n) for n in ("a.wav", "bad.wav", "b.flac", "quiet.wav")]
    result = runner.invoke(app, ["instrument", *files, "--model", str(tiny_model)])
    assert result.exit_code == 1, result.output
    answers = _answers(result.stdout)
    assert set(answers) == {"a.wav", "b.flac"}
    for top in answers.values():
        probs = [p for _, p in top]
        assert len(top) == 3 and probs == sorted(probs, reverse=True)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "bad.wav" in errors[0] and "quiet.wav" in errors[1] and "silent" in errors[1]
    assert "failed: 2 of 4 file(s)" in result.stderr


def test_json_and_top_k(tmp_path: Path, tiny_model: Path) -> None:
    sf.write(tmp_path / "a.wav", _tone(330.0), SR)
    result = runner.invoke(app, ["instrument", str(tmp_path / "a.wav"), "-m", str(tiny_model), "--json", "-k", "5"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout.strip().splitlines()[-1])
    assert doc["file"].endswith("a.wav") and len(doc["top"]) == 5 and isinstance(doc["confident"], bool)
    result = runner.invoke(app, ["instrument", str(tmp_path / "a.wav"), "-m", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "nowhere" in result.output


def test_evaluate_a_folder_with_alias_names(tmp_path: Path, tiny_model: Path) -> None:
    notes = tmp_path / "notes"
    for folder, f0 in (("Double Bass", 55.0), ("trumpet", 392.0), ("Flutes", 880.0), ("french-horn", 174.6)):
        (notes / folder).mkdir(parents=True)
        for k in range(2):
            sf.write(notes / folder / f"n{k}.wav", _tone(f0 * (1 + 0.06 * k)), SR)
    (notes / "Flutes" / "readme.txt").write_text("ignored")
    out = tmp_path / "eval" / "table"
    result = runner.invoke(app, ["evaluate", "instruments", str(tiny_model), str(notes), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert re.search(r"^\| tiny \|", result.stdout, re.M)
    for name in ("svm", "logreg"):
        assert re.search(rf"^\| {name} \|", result.stdout, re.M)
    assert "8 items" in result.stdout
    doc = json.loads(out.with_suffix(".json").read_text())
    scores = doc[0]["scores"]["tiny"]
    assert scores["n"] == 8 and set(scores["recall"]) == {"contrabass", "trumpet", "flute", "french_horn"}
    assert np.asarray(scores["confusion"]).sum() == 8
    assert out.with_suffix(".md").is_file() and (tmp_path / "eval" / "table-svm.png").stat().st_size > 1000


def test_evaluate_refuses_unknown_class_folders(tmp_path: Path, tiny_model: Path) -> None:
    (tmp_path / "kazoo").mkdir()
    sf.write(tmp_path / "kazoo" / "k.wav", _tone(300.0), SR)
    result = runner.invoke(app, ["evaluate", "instruments", str(tiny_model), str(tmp_path)])
    assert result.exit_code == 2 and "kazoo" in result.output and "alias" in result.output


def test_train_a_tiny_mlp(tmp_path: Path) -> None:
    from dlmir.data.manifest import write_manifest

    data = tmp_path / "data"
    (data / "audio").mkdir(parents=True)
    rows = []
    for split in ("train", "valid"):
        for k, (name, f0, parts) in enumerate((("flute", 523.0, 2), ("cello", 131.0, 8), ("piano", 262.0, 5)) * 2):
            item = f"{name}-{split}-{k}"
            sf.write(data / "audio" / f"{item}.flac", _tone(f0 * (1 + 0.03 * k), partials=parts), SR)
            row = {"id": item, "source": "instrument", "split": split, "duration": "2.000"}
            rows.append({**row, "audio": f"audio/{item}.flac", "instrument": name, "pitch": "60", "dynamic": "mf"})
    write_manifest(data, rows)
    run = tmp_path / "run"
    args = ["train", "instruments", str(data), "--model", "mlp", "--out", str(run), "--augment", "", "--epochs", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "trained 2 epochs" in result.stdout
    assert (run / "model.safetensors").is_file() and (run / "baselines" / "svm.json").is_file()
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["model"] == "InstrumentMLP" and config["frontend"]["n_bins"] == 192
    bad = runner.invoke(app, ["train", "instruments", str(data), "--augment", "rotate"])
    assert bad.exit_code == 2 and "unknown augmentation" in bad.output


@pytest.mark.skipif(not (SHIPPED_DIR / "config.json").is_file(), reason="no shipped instrument model")
@pytest.mark.skipif(not TIMGM.is_file(), reason="rendering needs the TimGM6mb soundfont")
def test_default_model_names_rendered_notes(tmp_path: Path) -> None:
    import pretty_midi

    from dlmir.data.instruments import INSTRUMENTS
    from dlmir.data.synth import Renderer

    cases = {"trumpet": 71, "piano": 59, "flute": 77, "cello": 53, "clarinet": 71}  # validation pitches (p % 6 == 5)
    with Renderer(sr=SR) as r:
        for name, pitch in cases.items():
            pm = pretty_midi.PrettyMIDI()
            inst = pretty_midi.Instrument(program=INSTRUMENTS[name].program)
            inst.notes.append(pretty_midi.Note(80, pitch, 0.0, 1.5))
            pm.instruments.append(inst)
            sf.write(tmp_path / f"{name}.wav", r.render(pm, "timgm6mb", duration=2.0), SR)
    result = runner.invoke(app, ["instrument", *(str(tmp_path / f"{n}.wav") for n in cases)])
    assert result.exit_code == 0, result.output
    answers = _answers(result.stdout)
    right = sum(answers[f"{n}.wav"][0][0] == n for n in cases)
    assert right >= 4  # measured 4: the flute is heard as a piano (0.62; flute second, 0.20)
    assert "flute" in [c for c, _ in answers["flute.wav"]]
