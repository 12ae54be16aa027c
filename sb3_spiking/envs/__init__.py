"""Task-independent environment helpers.

* :mod:`~sb3_spiking.envs.wrappers`: observation masking and the actor / privileged split
  (``PrivilegedSplit``) that turns any Box env into the Dict observation of asymmetric training;
* :mod:`~sb3_spiking.envs.action_repeat`: action repetition (``ActionRepeat`` / ``VecActionRepeat`` for rl-zoo's
  ``env_wrapper`` / ``vec_env_wrapper``, ``HeldActions`` for evaluations on the plain env): a critic that sees what a
  decision changes (docs/critic.md);
* :mod:`~sb3_spiking.envs.pendulum`: the old path of the Pendulum task's guide (now
  :mod:`sb3_spiking.tasks.pendulum`), resolved through the task registry.

Tasks with their own simulator live in :mod:`sb3_spiking.tasks`.
"""
