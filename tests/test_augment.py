import pytest
import torch

from cropland.data.augment import SequenceAugmentation
from cropland.errors import CroplandError


def _batch_of_static_fields(batch: int = 32, steps: int = 4) -> torch.Tensor:
    """Sequences whose steps are the same image with a per-step offset, so any transform
    drawn per step (rather than per sequence) shows up as different images."""
    image = torch.rand(batch, 1, 3, 11, 11)
    offsets = torch.arange(steps, dtype=torch.float32).view(1, steps, 1, 1, 1)
    return image + offsets


def _assert_same_transform_over_time(before: torch.Tensor, after: torch.Tensor) -> None:
    offsets = torch.arange(before.shape[1], dtype=torch.float32).view(1, -1, 1, 1, 1)
    base = after - offsets
    torch.testing.assert_close(base, base[:, :1].expand_as(base), atol=1e-5, rtol=0)


def test_dihedral_transform_is_shared_by_all_steps_and_channels():
    before = _batch_of_static_fields()
    after = SequenceAugmentation(flip=True, rotate90=True)(before, torch.Generator().manual_seed(1))
    _assert_same_transform_over_time(before, after)
    # Different sequences get different transforms: some are changed, some are not.
    changed = [(not torch.equal(a, b)) for a, b in zip(before, after, strict=True)]
    assert any(changed) and not all(changed)


def test_affine_transform_is_shared_by_all_steps():
    before = _batch_of_static_fields(batch=8)
    augment = SequenceAugmentation(
        flip=False, rotate90=False, rotation_degrees=15, translate_fraction=0.1
    )
    after = augment(before, torch.Generator().manual_seed(2))
    _assert_same_transform_over_time(before, after)
    assert not torch.allclose(before, after)


def test_disabled_augmentation_is_identity():
    before = _batch_of_static_fields(batch=4)
    after = SequenceAugmentation(flip=False, rotate90=False)(before)
    assert torch.equal(before, after)


def test_per_step_draws_differ_between_steps_of_a_sequence():
    """The published behaviour, kept for reproducing it: a new draw at every step."""
    before = _batch_of_static_fields(batch=8, steps=5)
    augment = SequenceAugmentation(
        flip=True, rotate90=False, rotation_degrees=15, translate_fraction=0.1, per_step=True
    )
    after = augment(before, torch.Generator().manual_seed(3))
    assert after.shape == before.shape
    offsets = torch.arange(5, dtype=torch.float32).view(1, -1, 1, 1, 1)
    base = after - offsets
    differs = [not torch.allclose(seq, seq[:1].expand_as(seq), atol=1e-3) for seq in base]
    assert all(differs)


def test_zero_fill_brings_in_zeros_at_the_border():
    image = torch.ones(4, 2, 1, 15, 15)
    augment = SequenceAugmentation(flip=False, rotate90=False, translate_fraction=0.3, fill="zeros")
    moved = augment(image, torch.Generator().manual_seed(0))
    assert (moved < 0.5).any()
    reflected = SequenceAugmentation(flip=False, rotate90=False, translate_fraction=0.3)
    assert torch.allclose(reflected(image, torch.Generator().manual_seed(0)), image)


def test_unknown_fill_names_the_setting():
    with pytest.raises(CroplandError, match="data.augmentation.fill"):
        SequenceAugmentation(fill="nearest")
