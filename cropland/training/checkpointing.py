"""Lightning's ModelCheckpoint, made to carry on across a resume into a new run folder."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint


class ResumableModelCheckpoint(ModelCheckpoint):
    """A ModelCheckpoint that restores its whole state when a run resumes.

    Every run has its own folder, so a resumed run saves into another folder than the run it
    resumes. Lightning's ModelCheckpoint then forgets the best score so far, and the first epoch
    after the resume becomes "best" even when an earlier one scored higher: the run would no
    longer test the checkpoint an uninterrupted run tests. Checkpoints of the earlier folder
    stay where they are (Lightning never deletes files outside its own folder).
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for key in ("best_model_score", "kth_best_model_path", "kth_value", "best_k_models"):
            if key in state_dict:
                setattr(self, key, state_dict[key])
        self.last_model_path = state_dict.get("last_model_path", self.last_model_path)
        self.best_model_path = state_dict["best_model_path"]

    @property
    def state_key(self) -> str:
        # Stored under ModelCheckpoint's own key: checkpoints stay readable by tools that look
        # for it (the model card), and runs saved before this class resume into it.
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)
