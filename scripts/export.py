"""Export a trained model to ONNX or TorchScript, with its model card.

python scripts/export.py ckpt_path=best|<run folder>|<file.ckpt> [format=torchscript]
    [output=<file>] [overwrite=true]
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

import cropland.quiet_start  # noqa: F401  (first: Ctrl-C while starting)
from cropland.cli import exit_on_user_error
from cropland.command_line_check import refuse_unknown_settings
from cropland.inference.checkpoint_choice import checkpoint_of
from cropland.inference.export import export_checkpoint


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    export_checkpoint(checkpoint_of(cfg), cfg.format, cfg.output, cfg.overwrite)


if __name__ == "__main__":
    refuse_unknown_settings("export")
    main()
