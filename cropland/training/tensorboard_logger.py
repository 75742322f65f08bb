"""The TensorBoard logger of cropland runs, so that TensorBoard opens on what matters.

- Custom Scalars: loss, accuracy and macro F1 with train and val on one chart each, the
  learning rate, and the per-class scores of the validation split on one chart per score.
- Scalars and Time Series: the headline curves in ``train/``, ``val/`` and ``test/``, the
  per-class ones in groups of their own (``val_per_class/f1_BARLEY``); no ``epoch`` card, and
  no single-point card per class of the test split.
- HParams: the run's settings with the important ones first, next to scores that are curves
  already; nothing is logged as a scalar for the HParams view alone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as layout_metadata
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.util.tensor_util import make_tensor_proto

from cropland.training.scores import PER_CLASS, per_class_group

# Headline curves: (chart title, metric name), each drawn for train and val together.
CURVES = (("loss", "loss"), ("accuracy", "acc"), ("macro F1", "f1_macro"))
# LearningRateMonitor's keys: lr-<optimizer class>, or the scheduler's name, /pg<n> per group;
# in TensorBoard they join the train group (train/lr-Adam), beside the curves they steer.
LEARNING_RATE_KEYS = "lr-"
LEARNING_RATE_TAGS = rf"^train/{LEARNING_RATE_KEYS}"


def scalar_layout() -> layout_pb2.Layout:
    """The Custom Scalars charts. Tags are regular expressions, so the per-class charts hold
    whatever classes a run has."""
    curves = [
        layout_pb2.Chart(
            title=title,
            # With the best so far, where the checkpoint follows this metric.
            multiline=layout_pb2.MultilineChartContent(tag=[rf"^(train|val)/{name}(_best)?$"]),
        )
        for title, name in CURVES
    ]
    curves.append(
        layout_pb2.Chart(
            title="learning rate",
            multiline=layout_pb2.MultilineChartContent(tag=[LEARNING_RATE_TAGS]),
        )
    )
    per_class = [
        layout_pb2.Chart(
            title=f"val {score} per class",
            multiline=layout_pb2.MultilineChartContent(tag=[rf"^val_per_class/{score}_"]),
        )
        for score in PER_CLASS
    ]
    return layout_pb2.Layout(
        category=[
            layout_pb2.Category(title="curves: train and val", chart=curves),
            layout_pb2.Category(title="val per class", chart=per_class, closed=True),
        ]
    )


class CroplandTensorBoardLogger(TensorBoardLogger):
    """Lightning's TensorBoardLogger, whose event files carry :func:`scalar_layout` and no
    ``epoch`` or test per-class scalar, with :meth:`log_comparison` for the HParams view."""

    @property
    @rank_zero_experiment
    def experiment(self):
        new = self._experiment is None
        writer = super().experiment
        if new:
            # Once per run: the writer reopens its file after Lightning closes it between fit
            # and test, into the same run folder, which keeps the layout. The summary is what
            # TensorBoard's custom_scalar_pb writes, without the TensorFlow it imports.
            layout = Summary.Value(
                tag=layout_metadata.CONFIG_SUMMARY_TAG,
                metadata=layout_metadata.create_summary_metadata(),
                tensor=make_tensor_proto(scalar_layout().SerializeToString()),
            )
            writer._get_file_writer().add_summary(Summary(value=[layout]))
        return writer

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        cards = {_tag(k): v for k, v in metrics.items() if _is_card(k)}
        super().log_metrics(cards, step)

    @rank_zero_only
    def log_comparison(
        self,
        settings: Mapping[str, bool | int | float | str],
        first: Sequence[str],
        metrics: Mapping[str, str],
    ) -> None:
        """One HParams session: ``settings`` (those named in ``first`` are the columns shown
        by default), compared on ``metrics``, ``{scalar tag: display name}``.

        TensorBoard takes a metric's value from the last point of the scalar series of that
        tag in the run, so the metrics are tags the run logs anyway: no scalar is written here.
        TensorBoard orders the settings by its ``differs`` flag, then by name, and shows the
        first five: the flag goes to the ``first`` settings.
        """
        infos = [
            api_pb2.HParamInfo(name=name, type=_data_type(value), differs=name in first)
            for name, value in settings.items()
        ]
        experiment = api_pb2.Experiment(
            hparam_infos=infos,
            metric_infos=[
                api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag), display_name=shown)
                for tag, shown in metrics.items()
            ],
            time_created_secs=time.time(),
        )
        start = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
        for name, value in settings.items():
            _set_value(start.hparams[name], value)
        end = plugin_data_pb2.SessionEndInfo(
            status=api_pb2.STATUS_SUCCESS, end_time_secs=time.time()
        )
        # Lightning's own log_hyperparams writes through the same file writer.
        writer = self.experiment._get_file_writer()
        for tag, data in (
            (metadata.EXPERIMENT_TAG, {"experiment": experiment}),
            (metadata.SESSION_START_INFO_TAG, {"session_start_info": start}),
            (metadata.SESSION_END_INFO_TAG, {"session_end_info": end}),
        ):
            described = metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(**data))
            value = Summary.Value(tag=tag, metadata=described, tensor=metadata.NULL_TENSOR)
            writer.add_summary(Summary(value=[value]))
        writer.flush()


def _tag(key: str) -> str:
    return f"train/{key}" if key.startswith(LEARNING_RATE_KEYS) else key


def _is_card(key: str) -> bool:
    """Whether a logged value becomes a TensorBoard scalar. Lightning adds the epoch number to
    every logged dict: TensorBoard's axis is the step already, and the number would be a card
    in front of the curves. The test split's per-class scores are one point each, in front of
    the training curves too; its confusion matrix, report.txt and metrics.json hold them."""
    return key != "epoch" and not key.startswith(f"{per_class_group('test')}/")


def _data_type(value: bool | int | float | str) -> int:
    if isinstance(value, bool):
        return api_pb2.DATA_TYPE_BOOL
    if isinstance(value, int | float):
        return api_pb2.DATA_TYPE_FLOAT64
    return api_pb2.DATA_TYPE_STRING


def _set_value(target, value: bool | int | float | str) -> None:
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int | float):
        target.number_value = value
    else:
        target.string_value = str(value)
