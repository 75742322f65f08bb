"""Using a trained model outside training: loading checkpoints (ours or the published weights),
predicting batches, exporting to ONNX/TorchScript."""

from cropland.inference.model_loading import load_classifier, load_model, run_folder_of

__all__ = ["load_classifier", "load_model", "run_folder_of"]
