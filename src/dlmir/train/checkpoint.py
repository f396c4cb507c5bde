"""Resumable training checkpoints in safetensors + JSON (never pickled).

After every epoch ``RUN_DIR/checkpoint/state.safetensors`` holds the model weights (``model.*``) and
every optimiser state tensor (``optim.<param>.<name>``), and ``RUN_DIR/checkpoint/state.json`` the
completed epoch, global step, seed, configs, optimiser hyper-parameters and the loss history. Both
files are written to a temporary name and renamed, so an interrupted write leaves the previous state.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from dlmir.errors import ParameterError
from dlmir.train.config import TrainConfig
from dlmir.train.regularizers import Regularization


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """Split an optimiser state into safetensors-ready tensors and JSON-ready param groups."""
    state = optimizer.state_dict()
    tensors = {}
    for pid, values in state["state"].items():
        for name, value in values.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"optim.{pid}.{name}"] = t.detach().cpu().contiguous()
    return tensors, state["param_groups"]


def optimizer_from_tensors(tensors: dict[str, torch.Tensor], param_groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Inverse of :func:`optimizer_to_tensors`: an optimiser ``state_dict``."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": param_groups}


def save_state(run_dir: Path, module, config: TrainConfig, reg: Regularization, epoch: int, step: int) -> Path:
    """Write ``RUN_DIR/checkpoint/state.safetensors`` + ``state.json`` (see the module docstring)."""
    from safetensors.torch import save_file

    folder = Path(run_dir) / "checkpoint"
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in module.model.state_dict().items()}
    optimizer = module.optimizers()
    optimizer = getattr(optimizer, "optimizer", optimizer)
    opt_tensors, groups = optimizer_to_tensors(optimizer)
    tensors.update(opt_tensors)
    save_file(tensors, str(folder / ".state.safetensors.part"))
    os.replace(folder / ".state.safetensors.part", folder / "state.safetensors")
    doc = {
        "epoch": epoch,
        "step": step,
        "seed": config.seed,
        "model": module.model.config,
        "train": asdict(config),
        "reg": reg.to_dict(),
        "param_groups": groups,
        "history": module.history,
    }
    (folder / ".state.json.part").write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(folder / ".state.json.part", folder / "state.json")
    return folder


def read_state(run_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The resume state of ``run_dir``: (``state.json`` dict, tensors)."""
    from safetensors.torch import load_file

    folder = Path(run_dir) / "checkpoint"
    if not (folder / "state.json").exists() or not (folder / "state.safetensors").exists():
        raise ParameterError(f"{run_dir}: no checkpoint to resume from (expected {folder}/state.json and .safetensors)")
    return json.loads((folder / "state.json").read_text()), load_file(str(folder / "state.safetensors"))


def model_weights(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's ``state_dict`` from a checkpoint's tensors (the ``model.*`` entries, prefix removed)."""
    return {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}


__all__ = ["model_weights", "optimizer_from_tensors", "optimizer_to_tensors", "read_state", "save_state"]
