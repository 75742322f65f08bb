"""Using a trained model outside training: loading checkpoints, exporting to ONNX/TorchScript."""

from cropland.inference.checkpoint import load_classifier, read_checkpoint, run_folder_of

__all__ = ["load_classifier", "read_checkpoint", "run_folder_of"]
