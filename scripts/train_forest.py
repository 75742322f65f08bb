"""The random-forest baseline: python scripts/train_forest.py [data.path=...] [data.channels=...]

Month x channel centre means of each sequence, a 500-tree forest with balanced class weights,
on the same split as scripts/train.py; writes metrics.json with the same keys.
"""

import hydra
from omegaconf import DictConfig

from cropland.cli import exit_on_user_error
from cropland.training.forest import train_forest


@hydra.main(version_base="1.3", config_path="../conf", config_name="train_forest")
@exit_on_user_error
def main(cfg: DictConfig) -> float:
    return train_forest(cfg).get("val/f1_macro", 0.0)


if __name__ == "__main__":
    main()
