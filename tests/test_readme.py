"""Every Python block of the README runs as written (in a fresh interpreter, from a scratch folder)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 1


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index: int, tmp_path: Path) -> None:
    script = tmp_path / f"readme_block_{index}.py"
    script.write_text(BLOCKS[index], encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"README block {index} failed:\n{BLOCKS[index]}\n--- stderr ---\n{done.stderr[-3000:]}"


def test_lazy_submodules() -> None:
    import dlmir

    assert dlmir.examples.example_audio().is_file()
    for name in ("transcription", "pretrain", "instruments", "train", "analysis"):
        assert getattr(dlmir, name).__name__ == f"dlmir.{name}"
    with pytest.raises(AttributeError):
        dlmir.no_such_module  # noqa: B018
