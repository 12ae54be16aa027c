"""Reward curriculum for training: an SB3 callback that moves the drone envs through six stages.

Stage = ``min(5, floor(6 * progress))`` with ``progress = num_timesteps / total_timesteps``;
stage ``k`` uses weights ``start + k/5 (final - start)`` (table in :mod:`sb3_spiking.tasks.drone.reward`).
Environments start at the final (strictest) stage unless told otherwise, so evaluation envs need no
callback; give this callback to the training run only, e.g. in an rl-zoo YAML::

    callback:
      - sb3_spiking.tasks.drone.curriculum.RewardCurriculumCallback:
          verbose: 1

The stage lives in the environments (``get_curriculum_stage`` / ``set_curriculum_stage`` /
attribute ``curriculum_stage``) and is a pure function of the step count, so a resumed run only
needs the same ``total_timesteps``: pass it explicitly when ``learn`` is called again with
``reset_num_timesteps=False`` and a different budget.
"""

from __future__ import annotations

from stable_baselines3.common.callbacks import BaseCallback

from sb3_spiking.tasks.drone.reward import (
    FINAL_STAGE,
    FINAL_WEIGHTS,
    N_CURRICULUM_STAGES,
    START_WEIGHTS,
    curriculum_weights,
    stage_from_progress,
)

__all__ = [
    "FINAL_STAGE",
    "FINAL_WEIGHTS",
    "N_CURRICULUM_STAGES",
    "START_WEIGHTS",
    "RewardCurriculumCallback",
    "curriculum_weights",
    "stage_from_progress",
]


class RewardCurriculumCallback(BaseCallback):
    """Set the reward curriculum stage of the training env(s) from training progress.

    Calls ``training_env.env_method("set_curriculum_stage", stage)`` whenever the stage changes
    (works for :class:`~sb3_spiking.tasks.drone.vec_env.DroneHoverVecEnv` and for Dummy/Subproc
    VecEnvs of ``DroneHoverEnv``, through VecEnv wrappers) and records ``curriculum/stage`` and
    ``curriculum/c_*`` in the SB3 logger.

    :param total_timesteps: step budget that defines progress; default the ``total_timesteps`` of
        the current ``learn`` call (SB3's ``model._total_timesteps``).
    :param verbose: 1 prints each stage change.
    """

    def __init__(self, total_timesteps: int | None = None, verbose: int = 0) -> None:
        super().__init__(verbose)
        if total_timesteps is not None and total_timesteps <= 0:
            raise ValueError(f"total_timesteps must be > 0, got {total_timesteps}")
        self.total_timesteps = total_timesteps
        self.stage: int | None = None

    def progress(self) -> float:
        """Fraction of the step budget done, in [0, 1]."""
        total = self.total_timesteps or getattr(self.model, "_total_timesteps", 0)
        if not total:
            return 0.0
        return min(1.0, max(0.0, self.model.num_timesteps / total))

    def _update(self) -> None:
        stage = stage_from_progress(self.progress())
        if stage != self.stage:
            self.training_env.env_method("set_curriculum_stage", stage)
            if self.verbose and self.stage is not None:
                print(f"RewardCurriculumCallback: stage {self.stage} -> {stage} at {self.model.num_timesteps} steps")
            self.stage = stage
        self._record()

    def _record(self) -> None:
        self.logger.record("curriculum/stage", self.stage)
        for name, value in curriculum_weights(self.stage).as_dict().items():
            self.logger.record(f"curriculum/{name}", value)

    def _on_training_start(self) -> None:
        self.stage = None  # force the first env_method call
        self._update()

    def _on_step(self) -> bool:
        stage = stage_from_progress(self.progress())
        if stage != self.stage:
            self._update()
        return True

    def state_dict(self) -> dict[str, int | None]:
        """The current stage, recorded in training checkpoints for inspection (on resume it follows
        from the restored step count, so there is no ``load_state_dict``)."""
        return {"stage": self.stage}

    def _on_rollout_end(self) -> None:
        # logger values are cleared at each dump: record again so every dump carries them
        if self.stage is not None:
            self._record()
