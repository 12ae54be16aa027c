"""Task-independent environment helpers.

* :mod:`~sb3_spiking.envs.wrappers`: observation masking and the actor / privileged split
  (``PrivilegedSplit``) that turns any Box env into the Dict observation of asymmetric training;
* :mod:`~sb3_spiking.envs.pendulum`: a privileged swing-up guide for gymnasium's ``Pendulum-v1``
  (the quick start and the tests' small task).

Tasks with their own simulator live in :mod:`sb3_spiking.tasks`.
"""
