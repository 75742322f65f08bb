"""How fast cropland's models train and infer on this CPU, against a textbook ConvLSTM.

Not a test: ``python -m benchmarks.convlstm`` (from the repository root) measures, in one
process, at the published shapes unless told otherwise (batch 16, 4 months, 5 x 65 x 65,
hidden 64/128, 3x3 kernels):

- a textbook ConvLSTM (one convolution over ``concat(x, h)`` per step, written here), and
  cropland's ConvLSTMClassifier with each speed option on and off: fused gate arithmetic and
  the zero first state's convolution skipped (always on in the model; off in the reference, and
  the skip off in one row), channels_last, bf16 autocast (only where the CPU has native bf16:
  emulated bf16 is tens of times slower), torch.compile;
- for each: train step (Adam) and inference sequences/s, the ratio to the textbook cell, the
  share of the measured convolution peak reached, and the largest logit difference from the
  textbook cell in fp32 (same weights, same batch);
- one line per speed and memory target, met or not;
- the same at the default model's encoder shapes (conf/model/convlstm.yaml: pooled images,
  month planes, its hidden sizes);
- every network in ``cropland.models.networks.NETWORKS`` at its ``conf/model/<name>.yaml``
  size, train and inference sequences/s.

``--quick`` runs everything on tiny shapes in seconds, to check that it runs. Timings on a
shared machine are indicative: compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from rich.console import Console
from rich.table import Table
from torch import Tensor, nn
from torch.nn import functional as F

from cropland.models.convlstm import ConvLSTMCell, ConvLSTMClassifier
from cropland.models.networks import NETWORKS, build_network
from cropland.models.sequence_inputs import MonthEncoding
from cropland.precision import native_bf16

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"
# A train step costs about three forwards: the forward, and backward's input and weight grads.
TRAIN_FLOP_FACTOR = 3
SPEEDUP_TARGET = {"bf16": 2.5, "fp32": 1.2}
PEAK_SHARE_TARGET = 0.9


class TextbookCell(nn.Module):
    """The reference: one convolution over ``concat(x, h)``, the gates one by one."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.conv = nn.Conv2d(
            in_channels + hidden_channels,
            4 * hidden_channels,
            kernel_size,
            padding=kernel_size // 2,
        )

    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        i, f, o, g = self.conv(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class TextbookEncoder(nn.Module):
    def __init__(self, in_channels: int, hidden: list[int], kernels: list[int]) -> None:
        super().__init__()
        sizes = [in_channels, *hidden]
        self.cells = nn.ModuleList(
            TextbookCell(sizes[i], sizes[i + 1], k) for i, k in enumerate(kernels)
        )


class TextbookClassifier(nn.Module):
    """Parameter names match ConvLSTMClassifier's, so both load one state dict. Every sequence
    of the benchmark batch is full length: the state after the last step is the readout."""

    def __init__(self, in_channels: int, classes: int, hidden: list[int], kernels: list[int]):
        super().__init__()
        self.encoder = TextbookEncoder(in_channels, hidden, kernels)
        self.head = nn.Linear(hidden[-1], classes)

    def forward(self, image: Tensor, lengths: Tensor, months: Tensor) -> Tensor:
        batch, steps, _, height, width = image.shape
        states = [
            (image.new_zeros(batch, cell.hidden_channels, height, width),) * 2
            for cell in self.encoder.cells
        ]
        for t in range(steps):
            layer_input = image[:, t]
            for index, cell in enumerate(self.encoder.cells):
                states[index] = cell(layer_input, *states[index])
                layer_input = states[index][0]
        return self.head(layer_input.mean(dim=(-2, -1)))


@dataclass(frozen=True)
class Shapes:
    batch: int
    months: int
    channels: int
    size: int
    hidden: list[int]
    kernels: list[int]
    classes: int

    def convlstm_forward_flop(self) -> float:
        """FLOP of one sequence's forward through the textbook cell (convolutions only)."""
        sizes = [self.channels, *self.hidden]
        per_step = sum(
            2 * (sizes[i] + h) * 4 * h * k**2 * self.size**2
            for i, (h, k) in enumerate(zip(self.hidden, self.kernels, strict=True))
        )
        return per_step * self.months


@dataclass(frozen=True)
class Variant:
    """One way to run a model: ``build`` makes it (seeded), the rest says how it runs."""

    name: str
    build: Callable[[], nn.Module]
    channels_last: bool = False
    bf16: bool = False
    compiled: bool = False

    @property
    def precision(self) -> str:
        return "bf16" if self.bf16 else "fp32"


@dataclass
class Speed:
    train: float  # sequences/s
    infer: float
    logit_difference: float | None = None


def timed(run: Callable[[], object], warmup: int, iterations: int) -> float:
    """Seconds of the fastest of ``iterations`` calls of ``run``, after ``warmup`` calls: on a
    shared machine the fastest call is the one least disturbed by other work."""
    for _ in range(warmup):
        run()
    fastest = float("inf")
    for _ in range(iterations):
        start = time.perf_counter()
        run()
        fastest = min(fastest, time.perf_counter() - start)
    return fastest


def autocast(bf16: bool) -> contextlib.AbstractContextManager:
    if bf16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def batch_for(shapes: Shapes, channels_last: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Image, lengths (all full), months, labels; seeded, so every variant sees one batch."""
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(
        shapes.batch, shapes.months, shapes.channels, shapes.size, shapes.size, generator=generator
    )
    if channels_last:
        # (B, T, C, H, W) with C innermost: each step's (B, C, H, W) slice is channels_last.
        image = image.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    lengths = torch.full((shapes.batch,), shapes.months)
    months = torch.arange(shapes.months).repeat(shapes.batch, 1) % 12 + 4
    labels = torch.randint(0, shapes.classes, (shapes.batch,), generator=generator)
    return image, lengths, months, labels


def prepared(model: nn.Module, variant: Variant) -> tuple[nn.Module, Callable[..., Tensor]]:
    """The model in the variant's memory format, and the callable to time (compiled or not)."""
    if variant.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, torch.compile(model) if variant.compiled else model


@dataclass
class Runs:
    """A variant's two timed calls, and its logit difference from the reference."""

    train_step: Callable[[], None]
    infer: Callable[[], Tensor]
    logit_difference: float | None


def runs_of(variant: Variant, shapes: Shapes, reference: Tensor | None) -> Runs:
    """``variant`` built and ready to time; its largest logit difference from ``reference``
    (fp32 textbook logits of the same weights and batch) taken before any training."""
    image, lengths, months, labels = batch_for(shapes, variant.channels_last)
    model, run = prepared(variant.build(), variant)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def train_step() -> None:
        model.train()
        with autocast(variant.bf16):
            loss = F.cross_entropy(run(image, lengths, months).float(), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def infer() -> Tensor:
        model.eval()
        with torch.inference_mode(), autocast(variant.bf16):
            return run(image, lengths, months)

    difference = None
    if reference is not None:
        difference = (infer().float() - reference).abs().max().item()
    return Runs(train_step, infer, difference)


def measure(
    variants: list[Variant],
    shapes: Shapes,
    warmup: int,
    iterations: int,
    reference: Tensor | None,
) -> list[Speed]:
    """Train-step and inference sequences/s of each variant. The variants take turns, one call
    each per round, so that other work on a shared machine slows them alike; each keeps its
    fastest call. Train steps and inference are timed in phases of their own, each a run of
    calls of one kind as in use: an inference call right after a train step ran up to 27%
    faster for the textbook cell than one after inference calls (the memory left allocated
    differs), which flattered the reference by more than cropland."""
    runs = [runs_of(variant, shapes, reference) for variant in variants]
    for run in runs:
        for _ in range(warmup):  # torch.compile compiles here, and caches warm up
            run.infer()
            run.train_step()
    fastest = [[float("inf"), float("inf")] for _ in runs]
    for kind in (0, 1):
        for _ in range(iterations):
            for run, times in zip(runs, fastest, strict=True):
                call = run.train_step if kind == 0 else run.infer
                times[kind] = min(times[kind], timed(call, 0, 1))
    return [
        Speed(shapes.batch / train, shapes.batch / infer, run.logit_difference)
        for run, (train, infer) in zip(runs, fastest, strict=True)
    ]


def conv_peak(shapes: Shapes, bf16: bool, warmup: int, iterations: int) -> float:
    """FLOP/s of one convolution the size of the top layer's gate convolution, the best of
    both memory formats: the most the ConvLSTM's convolutions can reach here."""
    in_channels = (shapes.hidden[-2] if len(shapes.hidden) > 1 else shapes.channels) + (
        shapes.hidden[-1]
    )
    out_channels = 4 * shapes.hidden[-1]
    kernel = shapes.kernels[-1]
    conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)
    x = torch.randn(shapes.batch, in_channels, shapes.size, shapes.size)
    flop = 2 * in_channels * out_channels * kernel**2 * shapes.size**2 * shapes.batch
    best = 0.0
    for memory_format in (torch.contiguous_format, torch.channels_last):
        conv, x = conv.to(memory_format=memory_format), x.to(memory_format=memory_format)
        with torch.inference_mode(), autocast(bf16):
            # Cheap next to the models: more calls, for a peak less disturbed by other work.
            seconds = timed(partial(conv, x), warmup, max(iterations, 5))
        best = max(best, flop / seconds)
    return best


def convlstm_variants(shapes: Shapes, bf16: bool, compile_: bool) -> Iterator[Variant]:
    def seeded(cls: type[nn.Module], **settings: object) -> Callable[[], nn.Module]:
        def build() -> nn.Module:
            torch.manual_seed(0)
            return cls(shapes.channels, shapes.classes, **settings)

        return build

    hidden, kernels = shapes.hidden, shapes.kernels
    plain = {"downsample": 1, "month_encoding": False, "hidden_channels": hidden}
    cropland = seeded(ConvLSTMClassifier, kernel_sizes=kernels, **plain)

    def without_zero_state_skip() -> nn.Module:
        model = cropland()
        for cell in model.encoder.cells:
            cell.forward = partial(from_zeros, cell)
        return model

    yield Variant(
        "textbook cell (reference)", seeded(TextbookClassifier, hidden=hidden, kernels=kernels)
    )
    yield Variant("cropland, fused gates, zero-state step not skipped", without_zero_state_skip)
    yield Variant("cropland (default)", cropland)
    yield Variant("cropland, channels_last", cropland, channels_last=True)
    if bf16:
        yield Variant("cropland, bf16", cropland, bf16=True)
        yield Variant("cropland, channels_last, bf16", cropland, channels_last=True, bf16=True)
    if compile_:
        yield Variant("cropland, compiled", cropland, compiled=True)
        if bf16:
            yield Variant("cropland, bf16, compiled", cropland, bf16=True, compiled=True)
            yield Variant(
                "cropland, channels_last, bf16, compiled", cropland, True, True, compiled=True
            )


def from_zeros(cell: ConvLSTMCell, x: Tensor, state: tuple[Tensor, Tensor] | None = None):
    """``cell``'s step without its one saving: the zero first state is convolved like any
    other (the option "off", to measure what the skip gains)."""
    return ConvLSTMCell.forward(cell, x, cell.initial_state(x) if state is None else state)


def reference_logits(shapes: Shapes) -> Tensor:
    """The textbook cell's fp32 logits on the benchmark batch (weights as every variant's)."""
    torch.manual_seed(0)
    hidden, kernels = shapes.hidden, shapes.kernels
    model = TextbookClassifier(shapes.channels, shapes.classes, hidden, kernels).eval()
    image, lengths, months, _ = batch_for(shapes, channels_last=False)
    with torch.inference_mode():
        return model(image, lengths, months)


def default_networks() -> Iterator[tuple[str, dict]]:
    """Each network of NETWORKS with its base ``conf/model`` config's settings, by config name."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        for path in sorted((CONFIG_DIR / "model").glob("*.yaml")):
            if path.stem.endswith("_full"):
                continue
            net = compose("train", overrides=[f"model={path.stem}"]).model.net
            config = OmegaConf.to_container(net, resolve=True)
            if config["_target_"] in NETWORKS:
                yield path.stem, config


def network_variants(name: str, config: dict, shapes: Shapes, bf16: bool) -> Iterator[Variant]:
    def build() -> nn.Module:
        torch.manual_seed(0)
        return build_network(
            config,
            f"conf/model/{name}.yaml: net",
            in_channels=shapes.channels,
            num_classes=shapes.classes,
        )

    # channels_last is a layout of 4-D tensors: it applies to 2-D convolutions only.
    has_conv2d = any(isinstance(m, nn.Conv2d) for m in build().modules())
    yield Variant(f"{name} fp32", build)
    if has_conv2d:
        yield Variant(f"{name} fp32, channels_last", build, channels_last=True)
    if bf16:
        yield Variant(f"{name} bf16", build, bf16=True)
        if has_conv2d:
            yield Variant(f"{name} bf16, channels_last", build, channels_last=True, bf16=True)


def percent(share: float) -> str:
    return f"{100 * share:.0f}%"


def convlstm_table(
    results: list[tuple[Variant, Speed]], shapes: Shapes, peaks: dict[str, float]
) -> Table:
    reference = results[0][1]
    flop = shapes.convlstm_forward_flop()
    table = Table(title="ConvLSTM: train step (Adam) and inference")
    for column in ("variant", "train seq/s", "x ref", "infer seq/s", "x ref"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    table.add_column("train % peak", justify="right")
    table.add_column("infer % peak", justify="right")
    table.add_column("max |logit - fp32 ref|", justify="right")
    for variant, speed in results:
        peak = peaks[variant.precision]
        table.add_row(
            variant.name,
            f"{speed.train:.2f}",
            f"{speed.train / reference.train:.2f}",
            f"{speed.infer:.2f}",
            f"{speed.infer / reference.infer:.2f}",
            percent(speed.train * flop * TRAIN_FLOP_FACTOR / peak),
            percent(speed.infer * flop / peak),
            f"{speed.logit_difference:.1e}",
        )
    return table


def target_lines(
    results: list[tuple[Variant, Speed]], shapes: Shapes, peaks: dict[str, float]
) -> Iterator[str]:
    """One line per speed and memory target, met or not, with the numbers."""
    reference = results[0][1]
    flop = shapes.convlstm_forward_flop()
    best_precision = max(peaks, key=peaks.__getitem__)
    peak = peaks[best_precision]
    cropland = results[1:]
    best_train = max(cropland, key=lambda r: r[1].train)
    best_infer = max(cropland, key=lambda r: r[1].infer)

    def verdict(met: bool) -> str:
        return "[green]met[/green]" if met else "[red]not met[/red]"

    for kind, (variant, _), rate, factor in (
        ("train", best_train, best_train[1].train, TRAIN_FLOP_FACTOR),
        ("inference", best_infer, best_infer[1].infer, 1),
    ):
        share = rate * flop * factor / peak
        yield (
            f"{verdict(share >= PEAK_SHARE_TARGET)}: {kind} at >= {percent(PEAK_SHARE_TARGET)} of "
            f"the {best_precision} conv peak ({peak / 1e9:.0f} GFLOP/s): {percent(share)}, "
            f"{variant.name}"
        )
    wanted = SPEEDUP_TARGET[best_precision]
    for kind, rate, reference_rate, name in (
        ("train", best_train[1].train, reference.train, best_train[0].name),
        ("inference", best_infer[1].infer, reference.infer, best_infer[0].name),
    ):
        ratio = rate / reference_rate
        yield (
            f"{verdict(ratio >= wanted)}: {kind} >= {wanted}x the reference "
            f"({best_precision} hardware): {ratio:.2f}x, {name}"
        )
    slowest = min(min(s.train / reference.train, s.infer / reference.infer) for _, s in cropland)
    default = next(s for v, s in cropland if "(default)" in v.name)
    default_ratio = min(default.train / reference.train, default.infer / reference.infer)
    yield (
        f"{verdict(default_ratio >= 1)}: the default never slower than the reference: "
        f"{default_ratio:.2f}x at worst (slowest option shown: {slowest:.2f}x)"
    )


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--months", type=int, default=4)
    parser.add_argument("--channels", type=int, default=5)
    parser.add_argument("--size", type=int, default=65, help="image height and width")
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--kernels", type=int, nargs="+", default=[3, 3], help="one per layer")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls before timing")
    parser.add_argument(
        "--iterations", type=int, default=3, help="timed calls of each variant, taking turns"
    )
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="PyTorch CPU threads"
    )
    parser.add_argument(
        "--no-compile", dest="compile", action="store_false", help="skip torch.compile rows"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny shapes, one timed call, no torch.compile: checks that it runs",
    )
    arguments = parser.parse_args()
    if len(arguments.hidden) != len(arguments.kernels):
        parser.error("--hidden and --kernels need one value per layer each")
    if arguments.quick:
        arguments.batch, arguments.months, arguments.size, arguments.hidden = 2, 2, 9, [4, 8]
        arguments.warmup, arguments.iterations, arguments.compile = 1, 1, False
    return arguments


def convlstm_section(
    title: str, shapes: Shapes, bf16: bool, compile_: bool, timing: dict, console: Console
) -> None:
    """The conv peak, the ConvLSTM table and the target lines at ``shapes``."""
    console.rule(title)
    console.print(
        f"batch {shapes.batch}, {shapes.months} months, {shapes.channels} x {shapes.size} x "
        f"{shapes.size}, hidden {shapes.hidden}, kernels {shapes.kernels}: "
        f"{shapes.convlstm_forward_flop() / 1e9:.2f} GFLOP per sequence forward (textbook count; "
        f"a train step counted as {TRAIN_FLOP_FACTOR} forwards)"
    )
    # The peak is measured before and after the variants and the faster kept: one taken while
    # other work ran would flatter every share of it.
    before = {"fp32": conv_peak(shapes, False, **timing)}
    if bf16:
        before["bf16"] = conv_peak(shapes, True, **timing)
    reference = reference_logits(shapes)
    variants = list(convlstm_variants(shapes, bf16, compile_))
    speeds = measure(variants, shapes, reference=reference, **timing)
    results = list(zip(variants, speeds, strict=True))
    peaks = {
        precision: max(before[precision], conv_peak(shapes, precision == "bf16", **timing))
        for precision in before
    }
    console.print(
        "conv peak (top layer's gate convolution, best memory format, fastest of before and "
        "after the variants): "
        + ", ".join(f"{p} {rate / 1e9:.0f} GFLOP/s" for p, rate in peaks.items())
    )
    console.print(convlstm_table(results, shapes, peaks))
    console.print(
        "% peak counts the textbook cell's FLOP; cropland skips the first step's hidden "
        "convolution (zero state), so it does fewer."
    )
    for line in target_lines(results, shapes, peaks):
        console.print(line)


def default_convlstm_shapes(shapes: Shapes, config: dict) -> Shapes:
    """What conf/model/convlstm.yaml's encoder sees of a ``shapes`` batch: month planes added,
    images average-pooled by its downsample factor."""
    return replace(
        shapes,
        channels=shapes.channels + (MonthEncoding.out_channels if config["month_encoding"] else 0),
        size=shapes.size // config["downsample"],
        hidden=list(config["hidden_channels"]),
        kernels=list(config["kernel_sizes"]),
    )


def main() -> None:
    arguments = parse_arguments()
    console = Console(width=140)
    torch.set_num_threads(arguments.threads)
    # The input checks read tensor values, so torch.compile breaks the graph there on purpose.
    torch._logging.set_logs(dynamo=logging.ERROR)
    shapes = Shapes(
        arguments.batch,
        arguments.months,
        arguments.channels,
        arguments.size,
        arguments.hidden,
        arguments.kernels,
        arguments.classes,
    )
    timing = {"warmup": arguments.warmup, "iterations": arguments.iterations}
    bf16 = native_bf16("cpu")
    console.print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if not bf16:
        console.print("bf16: not native here, skipped")
    if not arguments.compile:
        console.print("torch.compile: skipped")
    networks = dict(default_networks())
    convlstm_section(
        "ConvLSTM at the given shapes", shapes, bf16, arguments.compile, timing, console
    )
    convlstm_section(
        "ConvLSTM at the default model's shapes (conf/model/convlstm.yaml)",
        default_convlstm_shapes(shapes, networks["convlstm"]),
        bf16,
        arguments.compile,
        timing,
        console,
    )

    console.rule("every model at its default size (conf/model/<name>.yaml)")
    console.print(
        f"batch {shapes.batch}, {shapes.months} months, {shapes.channels} x {shapes.size} x "
        f"{shapes.size}"
    )
    table = Table()
    for column in ("variant", "train seq/s", "infer seq/s"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    variants = [
        variant
        for name, config in networks.items()
        for variant in network_variants(name, config, shapes, bf16)
    ]
    speeds = measure(variants, shapes, reference=None, **timing)
    for variant, speed in zip(variants, speeds, strict=True):
        table.add_row(variant.name, f"{speed.train:.2f}", f"{speed.infer:.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
