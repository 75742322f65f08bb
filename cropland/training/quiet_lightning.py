"""What Lightning prints that tells a user nothing: the accelerator lines of a CPU run, an
advertisement, a model summary with a column of zero FLOPs and a warning about it. Silenced by
message, so every other warning and line Lightning has still shows."""

from __future__ import annotations

import logging
import re
import warnings
from typing import Any

from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities.model_summary import get_human_readable_count

log = logging.getLogger(__name__)

# Lines of Lightning's startup that repeat what the run already says or advertise: the
# accelerators found (the precision line names the device), the mixed-precision notice (the
# precision line gives it with its reason), a logging service's tip, and a note that our
# summary replaces Lightning's.
_UNINFORMATIVE = re.compile(
    r"^(GPU available: |TPU available: |HPU available: |💡 Tip: |"
    r"Using (16bit|bfloat16) Automatic Mixed Precision|"
    r"Trainer already configured with model summary callbacks)"
)
_LIGHTNING_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning_fabric.utilities.rank_zero",
)


class _DropUninformative(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _UNINFORMATIVE.match(record.getMessage())


_FILTER = _DropUninformative()


def quiet_lightning() -> None:
    """Install the filters; calling it again adds nothing."""
    for name in _LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    # The summary below gives the size without Lightning's estimate, which this warns about.
    warnings.filterwarnings("ignore", message=r"Precision .* is not supported by the model summary")


class OneLineModelSummary(ModelSummary):
    """The model's class and parameter count in one line instead of Lightning's table (whose
    FLOPs column is zero unless a sample input is set, and whose rows are metric objects)."""

    def on_fit_start(self, trainer, pl_module) -> None:
        self._model_class = type(getattr(pl_module, "net", pl_module)).__name__
        super().on_fit_start(trainer, pl_module)

    def summarize(
        self,
        summary_data: list,
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        frozen = total_parameters - trainable_parameters
        note = f", {get_human_readable_count(frozen)} frozen" if frozen else ""
        log.info(
            "Model %s: %s parameters%s",
            self._model_class,
            get_human_readable_count(int(total_parameters)),
            note,
        )
