"""The critic study's tables (docs/critic.md) regenerate from their committed records (issue 30)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch as th

from experiments import critic_report, critic_sanity, weak_teacher_lunar

ARCHIVE = Path(__file__).resolve().parents[1] / "experiments" / "archive" / "critic"


@pytest.mark.parametrize(("module", "folder"), [(critic_sanity, "sanity"), (weak_teacher_lunar, "weak_teacher_lunar")])
def test_reports_regenerate_identically(module, folder, tmp_path):
    source = ARCHIVE / folder
    if not (source / "runs").exists():
        pytest.skip(f"no records in {source}")
    shutil.copytree(source, tmp_path / folder)
    (tmp_path / folder / "results.md").unlink()
    module.report(tmp_path / folder)
    assert (tmp_path / folder / "results.md").read_text() == (source / "results.md").read_text()


def test_probe_table_lists_every_critic_with_its_resolution_and_rules():
    table = critic_report.probe_table()
    for critic in ("plain", "advantage:0.01", "advantage:0.1", "advantage:1.0"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {critic} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells[1].split(" / ")) == 3  # t0 60 / 120 / 240
        assert "(270.0)" in cells[4]  # the same student in every row


def test_the_q_filtered_bc_term_imitates_only_where_the_critic_prefers_the_teacher():
    from types import SimpleNamespace

    import torch as th

    from sb3_spiking.guided_td3.losses import ActorBatch

    class Critic:  # prefers actions near 0.5
        def q1_forward(self, obs, actions):
            return -(actions - 0.5).pow(2).sum(dim=1, keepdim=True)

    pi = th.tensor([[[0.0], [0.9], [0.3]]], requires_grad=True)
    data = SimpleNamespace(actions=th.tensor([[[0.0], [0.0], [0.6]]]), guide_actions=th.tensor([[[0.4], [0.0], [9.0]]]),
                           has_guide_action=th.tensor([[1.0, 1.0, 0.0]]))  # step 2: no guide action, executed 0.6
    batch = ActorBatch(data, pi, th.ones(1, 3, dtype=th.bool), th.zeros(3, 2))
    loss = weak_teacher_lunar.QFilteredBC(Critic())(batch)
    # step 0: Q(0.4) > Q(0.0), kept; step 1: Q(0.0) < Q(0.9), dropped; step 2: the executed 0.6 beats 0.3, kept
    assert loss.item() == pytest.approx((0.4**2 + 0.3**2) / 3)
    loss.backward()
    assert pi.grad[0, 1, 0] == 0 and pi.grad[0, 0, 0] < 0


def test_the_validation_curve_leaves_training_as_it_is_and_keeps_the_best_weights():
    # a run with --curve-every must train exactly as one without it (its records are compared with runs without)
    from experiments.zoo_entry import model_from_entry
    from sb3_spiking.tasks.lunar_lander import make_lunar_lander_novel_privileged

    entry = dict(weak_teacher_lunar.settings("td3bc"), n_envs=2, learning_starts=64, train_freq=8, gradient_steps=2,
                 batch_size=4, n_seq=16, n_warmup=4, stride=4, buffer_size=5000)

    def trained(curve):
        th.manual_seed(0)
        model, _ = model_from_entry(entry, make_lunar_lander_novel_privileged, 0, guide=weak_teacher_lunar.SluggishLunarGuide())
        model.learn(320, callback=curve)
        return model

    curve = weak_teacher_lunar.ValidationCurve(96, entry["env_kwargs"], seeds=(1000,))
    average = weak_teacher_lunar.WeightAverage(start=160, every=32)
    with_curve, without = trained([curve, average]), trained(None)
    assert average.count == 6  # 160, 192, ..., 320: the averaging only reads the weights, training is unchanged
    assert [step for step, _ in curve.curve] == [96, 192, 288]
    assert curve.best_at == max(curve.curve, key=lambda point: point[1])[0]
    for module in ("actor", "critic"):
        a, b = getattr(with_curve, module).state_dict(), getattr(without, module).state_dict()
        assert all(th.equal(a[k], b[k]) for k in a), module
    # the kept weights are a copy from that step, not a view of the weights that trained on
    final = with_curve.policy.state_dict()
    changed = any(not th.equal(v, final[k]) for k, v in curve.best_weights.items())
    assert changed == (curve.best_at != 288)


def test_the_weight_average_is_the_mean_of_the_sampled_weights():
    from types import SimpleNamespace

    policy = th.nn.Linear(2, 1)
    average = weak_teacher_lunar.WeightAverage(start=10, every=10)
    average.model = SimpleNamespace(policy=policy)
    seen = []
    for step in range(1, 41):
        with th.no_grad():
            policy.weight.fill_(float(step))
        average.num_timesteps = step
        if step % 10 == 0:
            seen.append(float(step))
        average._on_step()
    assert average.count == 4
    assert th.allclose(average.mean["weight"], th.full((1, 2), sum(seen) / len(seen)))
    assert policy.weight[0, 0].item() == 40.0  # the policy's own weights are not touched
