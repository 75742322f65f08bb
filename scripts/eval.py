"""Score a checkpoint on the test split: python scripts/eval.py ckpt_path=<ckpt> [data.path=...]

Writes metrics.json, report.txt, per_class.csv, early_season.csv and figures into
outputs/eval/runs/<time>/.
"""

import hydra
from omegaconf import DictConfig

import cropland.quiet_start  # noqa: F401  (first: Ctrl-C while starting)
from cropland.cli import exit_on_user_error, keys_given_on_command_line
from cropland.command_line_check import refuse_unknown_settings
from cropland.evaluation.evaluate import evaluate


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    evaluate(cfg, keys_given_on_command_line("data"))


if __name__ == "__main__":
    refuse_unknown_settings("eval")
    main()
