"""SequenceReplayBuffer: windows never mix episodes, masks match, wrap-around and many envs work."""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

from sb3_spiking.guided_td3.buffers import SequenceReplayBuffer

ACT = spaces.Box(-1, 1, (2,), np.float32)


def _obs_space(dict_obs):
    box = spaces.Box(-np.inf, np.inf, (3,), np.float32)
    if dict_obs:
        return spaces.Dict({"actor": box, "privileged": spaces.Box(-np.inf, np.inf, (4,), np.float32)})
    return box


def _fill(buf, n_envs, n_steps, episode_lengths, truncate_every=None, rng=None, dict_obs=False):
    """Run fake envs. obs = [env, episode id, step in episode]; episodes end after the given lengths
    (cycled per env); an episode that reaches `truncate_every` steps is truncated, others terminate."""
    ep_id = np.zeros(n_envs, int)
    ep_step = np.zeros(n_envs, int)
    lengths = [list(episode_lengths[e::n_envs]) or [episode_lengths[0]] for e in range(n_envs)]
    meta = []

    def make(env_step):
        o = np.stack([np.arange(n_envs), ep_id, env_step], 1).astype(np.float32)
        if dict_obs:
            return {"actor": o, "privileged": np.concatenate([o, o[:, :1] * 10], 1)}
        return o

    for _ in range(n_steps):
        obs = make(ep_step)
        target = np.array([lengths[e][ep_id[e] % len(lengths[e])] for e in range(n_envs)])
        done = ep_step + 1 >= target
        trunc = done & (truncate_every is not None) & (target == (truncate_every or -1))
        next_obs = make(ep_step + 1)
        infos = [{"TimeLimit.truncated": bool(trunc[e])} for e in range(n_envs)]
        action = np.stack([ep_id, ep_step], 1).astype(np.float32) / 1000
        guide = action + 0.5
        buf.add(obs, next_obs, action, ep_step.astype(np.float32), done, infos, guide_actions=guide, guide_acted=ep_step < 3)
        meta.append((done.copy(), trunc.copy()))
        ep_step = np.where(done, 0, ep_step + 1)
        ep_id = np.where(done, ep_id + 1, ep_id)
    return meta


def _check_windows(buf, batch, dict_obs=False):
    obs = batch.observations["actor"] if dict_obs else batch.observations
    nxt = batch.next_observations["actor"] if dict_obs else batch.next_observations
    obs, nxt = obs.numpy(), nxt.numpy()
    valid = batch.valid.numpy().astype(bool)
    actor_mask = batch.actor_mask.numpy().astype(bool)
    starts = batch.starts_episode.numpy().astype(bool)
    L = buf.n_seq
    assert valid[:, 0].all(), "the first step of every window is a stored step"
    for b in range(obs.shape[0]):
        v = valid[b]
        # valid steps form a prefix
        n = v.sum()
        assert v[:n].all() and not v[n:].any()
        # one env, one episode, consecutive steps
        assert np.all(obs[b, :n, 0] == obs[b, 0, 0])
        assert np.all(obs[b, :n, 1] == obs[b, 0, 1]), "a window mixed two episodes"
        assert np.array_equal(obs[b, :n, 2], obs[b, 0, 2] + np.arange(n))
        assert np.array_equal(nxt[b, :n, 2], obs[b, :n, 2] + 1)
        assert starts[b] == (obs[b, 0, 2] == 0)
        # windows start on multiples of the stride within the episode, unless clamped at the
        # oldest stored step after wrap-around
        assert obs[b, 0, 2] % buf.stride == 0 or is_oldest(buf, obs[b, 0])
        # the window stops only at an episode end or at the newest stored step
        if n < L:
            last_done = batch.terminated[b, n - 1] > 0 or buf_truncated_at(buf, obs[b, n - 1])
            newest = is_newest(buf, obs[b, n - 1])
            assert last_done or newest, f"window cut early at {obs[b, n-1]}"
        expected_mask = v & ((np.arange(L) >= buf.n_warmup) | (starts[b] and buf.train_from_episode_start))
        assert np.array_equal(actor_mask[b], expected_mask)
    # actions and guide data travel with their steps
    acts = batch.actions.numpy()
    assert np.allclose(acts[valid][:, 0] * 1000, obs[valid][:, 1], atol=1e-2)
    assert np.allclose(acts[valid][:, 1] * 1000, obs[valid][:, 2], atol=1e-2)
    assert np.allclose(batch.guide_actions.numpy()[valid], acts[valid] + 0.5)
    assert np.array_equal(batch.guide_acted.numpy()[valid] > 0, obs[valid][:, 2] < 3)
    assert np.allclose(batch.rewards.numpy()[valid], obs[valid][:, 2])


def _find(buf, o):
    env = int(o[0])
    arr = buf.observations["actor"] if isinstance(buf.observations, dict) else buf.observations
    stored = np.arange(buf.buffer_size) < (buf.buffer_size if buf.full else buf.pos)
    hits = np.flatnonzero((arr[:, env, 1] == o[1]) & (arr[:, env, 2] == o[2]) & stored)
    assert len(hits) == 1
    return hits[0], env


def buf_truncated_at(buf, o):
    pos, env = _find(buf, o)
    return bool(buf.truncated[pos, env] or buf.terminated[pos, env])


def is_oldest(buf, o):
    pos, _ = _find(buf, o)
    return buf.full and pos == buf.pos


def is_newest(buf, o):
    pos, _ = _find(buf, o)
    return pos == (buf.pos - 1) % buf.buffer_size


@pytest.mark.parametrize("dict_obs", [False, True])
def test_windows_across_wraparound_and_envs(dict_obs):
    buf = SequenceReplayBuffer(3 * 40, _obs_space(dict_obs), ACT, n_envs=3, n_seq=10, n_warmup=4, stride=3)
    _fill(buf, 3, 95, [7, 13, 25, 4, 31, 9], truncate_every=13, dict_obs=dict_obs)
    assert buf.full and buf.size() == 40  # SB3 convention: steps per env
    np.random.seed(0)
    batch = buf.sample(512)
    assert batch.actions.shape == (512, 10, 2)
    _check_windows(buf, batch, dict_obs)
    # both kinds of windows occur, and truncations are not terminations
    assert batch.starts_episode.sum() > 0 and (batch.starts_episode == 0).sum() > 0
    assert buf.truncated.any() and buf.terminated.any()
    assert not (buf.truncated & buf.terminated).any()


def test_truncation_is_not_termination():
    buf = SequenceReplayBuffer(100, _obs_space(False), ACT, n_envs=1, n_seq=5, n_warmup=1, stride=1)
    meta = _fill(buf, 1, 30, [10], truncate_every=10)
    assert buf.truncated[:30, 0].sum() == 3 and buf.terminated[:30, 0].sum() == 0
    buf2 = SequenceReplayBuffer(100, _obs_space(False), ACT, n_envs=1, n_seq=5, n_warmup=1, stride=1)
    _fill(buf2, 1, 30, [10])
    assert buf2.terminated[:30, 0].sum() == 3 and buf2.truncated[:30, 0].sum() == 0
    assert len(meta) == 30


def test_no_warmup_masking_on_episode_start_windows_can_be_disabled():
    buf = SequenceReplayBuffer(200, _obs_space(False), ACT, n_envs=1, n_seq=8, n_warmup=4, stride=8,
                               train_from_episode_start=False)
    _fill(buf, 1, 100, [30])
    batch = buf.sample(200)
    assert not batch.actor_mask[:, :4].any()
    _check_windows(buf, batch)


def test_lazy_allocation_and_memory_figure():
    big = SequenceReplayBuffer(2_000_000, _obs_space(True), ACT)
    assert big.nbytes() == 0  # nothing allocated until the first add
    small = SequenceReplayBuffer(1000, _obs_space(True), ACT)
    _fill(small, 1, 3, [5], dict_obs=True)
    # per transition: obs + next_obs (3 + 4 floats each), 2 actions x 2 floats, reward, 5 flags, step
    assert small.nbytes() == 1000 * ((3 + 4) * 4 * 2 + 2 * 2 * 4 + 4 + 5 + 4)


def test_bad_settings_rejected():
    with pytest.raises(ValueError, match="n_warmup"):
        SequenceReplayBuffer(100, _obs_space(False), ACT, n_seq=10, n_warmup=10)
    with pytest.raises(ValueError, match="stride"):
        SequenceReplayBuffer(100, _obs_space(False), ACT, n_seq=10, n_warmup=2, stride=0)
    with pytest.raises(ValueError, match="at least n_seq"):
        SequenceReplayBuffer(50, _obs_space(False), ACT, n_envs=2, n_seq=30, n_warmup=2, stride=10)
    with pytest.raises(RuntimeError, match="empty"):
        SequenceReplayBuffer(100, _obs_space(False), ACT, n_seq=10, n_warmup=2, stride=5).sample(4)


@settings(max_examples=60, deadline=None)
@given(
    n_envs=st.integers(1, 4),
    n_seq=st.integers(2, 12),
    data=st.data(),
)
def test_property_any_interleaving(n_envs, n_seq, data):
    n_warmup = data.draw(st.integers(0, n_seq - 1))
    stride = data.draw(st.integers(1, n_seq))
    per_env = data.draw(st.integers(n_seq, 40))
    n_steps = data.draw(st.integers(1, 3 * per_env))
    lengths = data.draw(st.lists(st.integers(1, 30), min_size=1, max_size=8))
    trunc = data.draw(st.sampled_from([None, *lengths]))
    from_start = data.draw(st.booleans())
    buf = SequenceReplayBuffer(per_env * n_envs, _obs_space(False), ACT, n_envs=n_envs, n_seq=n_seq,
                               n_warmup=n_warmup, stride=stride, train_from_episode_start=from_start)
    _fill(buf, n_envs, n_steps, lengths, truncate_every=trunc)
    np.random.seed(data.draw(st.integers(0, 2**31 - 1)))
    _check_windows(buf, buf.sample(64))


@pytest.mark.parametrize("dict_obs", [False, True])
def test_sample_normalises_with_vec_normalize_like_sb3(dict_obs):
    """Raw steps are stored; ``sample(env=VecNormalize)`` normalises observations, next observations
    and rewards with the wrapper's current statistics (SB3's ``_normalize_obs`` / ``_normalize_reward``)."""
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from sb3_spiking.envs.wrappers import PrivilegedSplit

    make = (lambda: PrivilegedSplit(gym.make("Pendulum-v1"), [0, 1])) if dict_obs else (lambda: gym.make("Pendulum-v1"))
    venv = VecNormalize(DummyVecEnv([make, make]), norm_obs=True, norm_reward=True, gamma=0.9)
    venv.seed(0)
    venv.reset()
    buf = SequenceReplayBuffer(
        200, venv.observation_space, spaces.Box(-1, 1, (1,), np.float32), n_envs=2, n_seq=6, n_warmup=1, stride=3
    )
    obs = venv.get_original_obs()
    for _ in range(60):
        action = np.random.uniform(-2, 2, (2, 1)).astype(np.float32)
        venv.step(action)  # updates the running statistics
        new_obs, reward = venv.get_original_obs(), venv.get_original_reward()
        buf.add(obs, new_obs, action / 2, reward, np.zeros(2, bool), [{}, {}])
        obs = new_obs
    np.random.seed(3)
    raw = buf.sample(16)
    np.random.seed(3)
    normed = buf.sample(16, env=venv)

    def as_np(o):
        return {k: v.numpy() for k, v in o.items()} if dict_obs else o.numpy()

    for field in ("observations", "next_observations"):
        expected, got = venv.normalize_obs(as_np(getattr(raw, field))), as_np(getattr(normed, field))
        for key in (["actor", "privileged"] if dict_obs else [None]):
            e, g = (expected[key], got[key]) if key else (expected, got)
            assert g.dtype == np.float32 and np.allclose(g, e, atol=1e-6)
            assert not np.allclose(g, (raw._asdict()[field][key] if key else raw._asdict()[field]).numpy())
    assert np.allclose(normed.rewards.numpy(), venv.normalize_reward(raw.rewards.numpy()), atol=1e-6)
    assert not np.allclose(normed.rewards.numpy(), raw.rewards.numpy())
    assert th.equal(normed.actions, raw.actions) and th.equal(normed.valid, raw.valid)


def test_the_guide_part_of_a_step_is_passed_to_add():
    """A step without guide_actions has none (the executed action stands in); with them, they are stored."""
    buf = SequenceReplayBuffer(100, _obs_space(False), ACT, n_envs=2, n_seq=4, n_warmup=1, stride=2)
    obs, action, infos = np.zeros((2, 3), np.float32), np.full((2, 2), 0.5, np.float32), [{}, {}]
    buf.add(obs, obs, action, np.zeros(2), np.zeros(2, bool), infos)
    guide = np.array([[0.1, 0.2], [0.3, 0.4]], np.float32)
    buf.add(obs, obs, action, np.zeros(2), np.zeros(2, bool), infos, guide_actions=guide, guide_acted=np.array([True, False]))
    assert not buf.has_guide_action[0].any() and np.array_equal(buf.guide_actions[0], action)
    assert not buf.guide_acted[0].any()
    assert buf.has_guide_action[1].all() and np.array_equal(buf.guide_actions[1], guide)
    assert buf.guide_acted[1].tolist() == [True, False]
    with pytest.raises(ValueError, match="guide_acted given without guide_actions"):
        buf.add(obs, obs, action, np.zeros(2), np.zeros(2, bool), infos, guide_acted=np.ones(2, bool))


@pytest.mark.parametrize("dict_obs", [False, True])
def test_recent_windows_lead_to_recent_steps_the_actor_flew(dict_obs):
    """The vine's replay branch points: each window ends at its drawn step, holds the steps before it in order within
    one episode (shorter windows start their episode), and no drawn step was flown by the guide or is old."""
    n_envs = 3
    buf = SequenceReplayBuffer(3 * 60, _obs_space(dict_obs), ACT, n_envs=n_envs, n_seq=10, n_warmup=4, stride=3)
    _fill(buf, n_envs, 150, [7, 23, 31, 12], dict_obs=dict_obs)  # wrapped around
    at, windows, lengths, steps = buf.recent_windows(200, 10, newest=30, rng=np.random.default_rng(0),
                                                     key="actor" if dict_obs else None)
    at = at["actor"] if dict_obs else at
    assert len(lengths) == 200 and windows.shape == (200, 10, 3)
    np.testing.assert_array_equal(at[:, 2], steps)  # obs = [env, episode id, step in episode]
    assert (steps >= 3).all()  # the guide flew steps 0-2 of every episode
    assert (lengths == np.minimum(steps + 1, 10)).all()
    for w, n, s, a in zip(windows, lengths, steps, at):
        np.testing.assert_array_equal(w[n - 1], a)  # the window ends at the drawn step
        np.testing.assert_array_equal(w[:n, 1], a[1])  # one episode
        np.testing.assert_array_equal(w[:n, 2], np.arange(s - n + 1, s + 1))  # consecutive, oldest first
        assert not w[n:].any()
    # only the newest 30 stored steps (10 per env) are drawn: the ones added in the last 10 vector steps
    stored = buf.observations["actor"] if dict_obs else buf.observations
    newest = {tuple(o) for p in range(buf.pos - 10, buf.pos) for o in stored[p]}
    assert {tuple(o) for o in at} <= newest
