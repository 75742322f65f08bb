"""The LightningModule: a sequence classifier with normalization, loss, metrics and optimizer."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from lightning.pytorch.accelerators import CPUAccelerator
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from torchmetrics import MeanMetric, MetricCollection

from cropland.data.layout import DATASET_PRODUCT_LEVEL
from cropland.models.networks import build_network
from cropland.models.normalization import standardize_valid_steps
from cropland.training.checkpoint_reading import read_checkpoint
from cropland.training.optim import check_optimizer_settings, rebuild_schedule
from cropland.training.run_options import check_cpu_compiler, check_switch
from cropland.training.scores import classification_metrics, flatten_metrics

# Lightning suggests sync_dist=True for every value logged at epoch end under DDP; ours are
# computed from torchmetrics states already summed over all processes.
warnings.filterwarnings("ignore", message=r".*when logging on epoch level in distributed setting")


def _plain(config: Mapping | None) -> dict | None:
    """Config as plain dicts and lists, so checkpoints load with ``weights_only=True``."""
    if config is None:
        return None
    if isinstance(config, DictConfig):
        return OmegaConf.to_container(config, resolve=True)
    return {k: _plain(v) if isinstance(v, Mapping) else v for k, v in config.items()}


class CropSequenceClassifier(L.LightningModule):
    """Wraps a network (built from ``net``, a config with ``_target_``) for training.

    Everything needed to use the model later (classes, channel order, normalization
    statistics of the training split) is a hyperparameter, saved in every checkpoint.
    """

    def __init__(
        self,
        net: Mapping,
        optimizer: Mapping,
        classes: list[str],
        channels: list[str],
        channel_mean: list[float],
        channel_std: list[float],
        class_weights: list[float] | None = None,
        scheduler: Mapping | None = None,
        channels_last: bool = False,
        compile: bool = False,
        product_level: str = DATASET_PRODUCT_LEVEL,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        # How the net runs, not what it is: not hyperparameters (see training/run_options.py).
        self.compile_net = check_switch(compile, "model.compile")
        self.save_hyperparameters(
            {
                "net": _plain(net),
                "optimizer": _plain(optimizer),
                "scheduler": _plain(scheduler),
                "classes": list(classes),
                "channels": list(channels),
                "channel_mean": [float(v) for v in channel_mean],
                "channel_std": [float(v) for v in channel_std],
                "class_weights": None
                if class_weights is None
                else [float(w) for w in class_weights],
                "product_level": str(product_level),
                "temperature": float(temperature),
            }
        )
        self.classes = list(classes)
        self.temperature = float(temperature)
        # Never Hydra's recursive instantiate: these settings may come from a checkpoint file.
        self.net = build_network(
            self.hparams.net, "model.net", in_channels=len(channels), num_classes=len(classes)
        )
        if check_switch(channels_last, "model.channels_last"):
            # The 2-D convolution weights in that layout: PyTorch's convolutions then run
            # channels-last whatever the input's layout.
            self.net.to(memory_format=torch.channels_last)
        self.register_buffer("channel_mean", torch.tensor(channel_mean).view(1, 1, -1, 1, 1))
        self.register_buffer("channel_std", torch.tensor(channel_std).view(1, 1, -1, 1, 1))
        weights = torch.ones(len(classes)) if class_weights is None else torch.tensor(class_weights)
        self.register_buffer("class_weights", weights.float())
        metrics = classification_metrics(len(classes))
        # Attributes, not a ModuleDict: a key "train" would shadow nn.Module.train.
        self.train_metrics = metrics.clone(prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        # Mean loss per sequence as a metric, so that it is summed over every process in DDP.
        self.train_loss, self.val_loss, self.test_loss = MeanMetric(), MeanMetric(), MeanMetric()
        # Confusion matrix of the last finished validation and test epochs, for reports.
        self.confusion: dict[str, Tensor] = {}
        # The last test epoch's (sequence index in the prepared file, label, predicted class)
        # per sequence this process scored, for the paired comparisons of benchmark tables.
        self.test_predictions: Tensor = torch.empty(0, 3, dtype=torch.int64)
        self._test_batches: list[Tensor] = []

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path, *args, **kwargs):
        """Lightning's loader, after the checks every cropland entry point makes (a file that
        holds data only, naming one of cropland's networks), with ``weights_only=True``."""
        read_checkpoint(checkpoint_path)
        kwargs.setdefault("weights_only", True)
        return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)

    def setup(self, stage: str) -> None:
        # In place, so the state dict keeps the net's own parameter names; fit only: test and
        # predict after a fit run the compiled net too, and a short evaluation would not repay
        # the compile time.
        if self.compile_net and stage == "fit":
            if isinstance(self.trainer.accelerator, CPUAccelerator):
                check_cpu_compiler()
            self.net.compile()

    def forward(
        self, image: Tensor, lengths: Tensor | None = None, months: Tensor | None = None
    ) -> Tensor:
        """Logits from images scaled to [0, 1], shape (batch, time, channels, H, W)."""
        if lengths is None:
            image = (image - self.channel_mean) / self.channel_std
        else:
            image = standardize_valid_steps(image, lengths, self.channel_mean, self.channel_std)
        # The calibration temperature (1 until fitted after training): every user of the model,
        # predict, the map and the exported graph, gets calibrated probabilities from here.
        return self.net(image, lengths=lengths, months=months) / self.temperature

    def _metrics(self, stage: str) -> MetricCollection:
        return getattr(self, f"{stage}_metrics")

    def _mean_loss(self, stage: str) -> MeanMetric:
        return getattr(self, f"{stage}_loss")

    def _step(self, batch: dict, stage: str) -> Tensor:
        logits = self(batch["image"], batch["lengths"], batch["months"])
        loss = F.cross_entropy(logits, batch["label"], weight=self.class_weights)
        self._metrics(stage).update(logits.detach(), batch["label"])
        self._mean_loss(stage).update(loss.detach(), weight=len(logits))
        if stage == "train":
            self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)
        elif stage == "test":
            predicted = logits.detach().argmax(dim=1)
            self._test_batches.append(torch.stack([batch["index"], batch["label"], predicted], 1))
        return loss

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "test")

    def _end_epoch(self, stage: str) -> None:
        # Every process computes the same values here, in the same order: torchmetrics sums
        # the states over DDP processes (so nothing is left for Lightning's sync_dist to do).
        computed = self._metrics(stage).compute()
        self._metrics(stage).reset()
        scalars = flatten_metrics(computed, f"{stage}/", self.classes)
        scalars[f"{stage}/loss"] = float(self._mean_loss(stage).compute())
        self._mean_loss(stage).reset()
        headline = {key: scalars.pop(f"{stage}/{key}") for key in ("loss", "acc", "f1_macro")}
        self.log_dict({f"{stage}/{k}": v for k, v in headline.items()}, prog_bar=stage == "val")
        self.log_dict(scalars)
        # Kept for the report, and drawn into TensorBoard by training/figures.py.
        self.confusion[stage] = computed[f"{stage}/confusion"].cpu()

    def on_train_epoch_end(self) -> None:
        self._end_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self._end_epoch("val")

    def on_test_epoch_start(self) -> None:
        self._test_batches = []

    def on_test_epoch_end(self) -> None:
        self._end_epoch("test")
        if self._test_batches:
            self.test_predictions = torch.cat(self._test_batches).cpu()
        else:
            self.test_predictions = torch.empty(0, 3, dtype=torch.int64)
        self._test_batches = []

    def configure_optimizers(self):
        # Only training builds these, and only from plain settings naming torch classes.
        check_optimizer_settings(self.hparams.optimizer, self.hparams.scheduler)
        optimizer = instantiate(self.hparams.optimizer)(params=self.parameters())
        if not self.hparams.scheduler:
            return optimizer
        scheduler = instantiate(self.hparams.scheduler)(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"},
        }

    def on_train_start(self) -> None:
        # A resumed run restores the checkpoint's schedule; follow this run's settings instead.
        if self.trainer.ckpt_path and self.hparams.scheduler:
            for config in self.trainer.lr_scheduler_configs:
                rebuild_schedule(config.scheduler, self.hparams.scheduler)
