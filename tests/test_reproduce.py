"""The reproduction driver: derived zoo configs, runs through the zoo CLI, paired evaluation, report."""

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from experiments import experiments, reproduce, run_records, runner
from experiments.findings import findings, paired_differences
from experiments.report import full_profile_duration, robustness_section


def test_derived_configs_are_valid_overrides(tmp_path):
    for exp in experiments.EXPERIMENTS:
        cfg = runner.derive_config(exp, 1234, tmp_path)
        assert cfg["n_timesteps"] == 1234
        curve = [c for c in cfg["callback"] if "LearningCurveCallback" in str(c)]
        assert len(curve) == 1 and "path" in str(curve[0])  # exactly one evaluation stream
        assert not any("FinalEvaluationCallback" in str(c) for c in cfg["callback"])
        for key, value in exp.overrides.items():
            if key == "callback":  # the experiment's own callbacks replace the config's; the driver adds the curve
                assert [c for c in cfg["callback"] if "LearningCurveCallback" not in str(c)] == value
            else:
                assert cfg.get(key) == value  # None = removed
        if cfg.get("slope_schedule") == "adaptive":  # fed by the curve's evaluations, no second stream
            assert cfg["slope_schedule_kwargs"]["eval_freq"] is None and "eval_env" not in cfg["slope_schedule_kwargs"]


def test_config_changes_ignore_the_run_folder_and_env_defaults(tmp_path):
    exp = experiments.BY_NAME["paper_actor"]
    here, there = runner.derive_config(exp, 1000, tmp_path / "a"), runner.derive_config(exp, 1000, tmp_path / "b")
    assert here != there and runner.config_changes(here, there) == []  # only the curve's path differs
    assert runner.config_changes({**here, "env_kwargs": None}, here) == []  # actor_history 0 is the env's default
    assert runner.config_changes(here, {**here, "gradient_steps": 30, "alpha": 1.0}) == ["alpha", "gradient_steps"]
    assert runner.config_changes(here, {**here, "env_kwargs": {"actor_history": 4}}) == ["env_kwargs"]


def test_archived_guided_runs_still_match_their_experiments_after_the_default_changed(tmp_path):
    # issue 27 made the history-free feedback actor the drone default: the experiments measured on the old default
    # keep its actor (experiments.HISTORY_RECIPE), so the driver neither retrains nor misreports their archived runs
    archive = Path(__file__).resolve().parents[1] / "experiments" / "archive" / "reproduce" / "runs"
    checked = []
    for exp in experiments.EXPERIMENTS:
        for cfg_file in sorted((archive / exp.name).glob("seed*/config.yml"))[:1]:
            stored = yaml.safe_load(cfg_file.read_text())
            if exp.algo != "guided_td3" or exp.env_id not in stored:
                continue
            steps = json.loads((cfg_file.parent / "run.json").read_text())["steps"]
            assert runner.config_changes(stored[exp.env_id], runner.derive_config(exp, steps, tmp_path)) == [], exp.name
            checked.append(exp.name)
    assert "main" in checked and "main_vine_slow" in checked and len(checked) > 30
    default = yaml.safe_load((archive.parents[3] / "zoo_configs" / "guided_td3.yml").read_text())[experiments.ENV_ID]
    assert default["policy_kwargs"]["feedback"] and experiments.BY_NAME["main"].overrides["env_kwargs"]["actor_history"] == 4
    assert experiments.BY_NAME["mem_feedback_command"].overrides["policy_kwargs"] == default["policy_kwargs"]
    assert experiments.BY_NAME["mem_feedback_command"].overrides["env_kwargs"] == default["env_kwargs"]


@pytest.mark.slow  # trains and evaluates real runs, ~40 s
def test_driver_end_to_end(tmp_path, capsys, monkeypatch):
    out, report = tmp_path / "runs", tmp_path / "results.md"
    argv = [
        "--only",
        "main",
        "--seeds",
        "0",
        "--steps",
        "6000",
        "--eval-freq",
        "3000",
        "--out",
        str(out),
        "--report",
        str(report),
    ]
    reproduce.main(argv)
    run = out / "main" / "seed0"
    config = yaml.safe_load((run / "config.yml").read_text())["DroneHover-v0"]
    assert config["policy"] == "SpikingPolicy" and config["n_timesteps"] == 6000
    assert "--conf-file" in (run / "command.txt").read_text()
    curve = (run / "curve.csv").read_text().splitlines()
    steps = [int(line.split(",")[0]) for line in curve[1:]]  # 16 envs: multiples of 16
    assert len(steps) == 2 and 3000 <= steps[0] < 3016 and steps[1] == 6000
    final = json.loads((run / "final_evaluation.json").read_text())
    assert final["guide"]["full_length"] == 1.0 and final["guide"]["mean_return"] > 350
    best = json.loads((run / "final_evaluation_best.json").read_text())  # the curve's best checkpoint, scored the same way
    assert best["guide"] == final["guide"] and "b_autonomous" in best
    text = report.read_text()
    assert "| return, best checkpoint of the learning curve |" in text
    assert "Headline" in text and "412 ± 6.7" in text and "| main | 0 | 6,000 |" in text
    # "main" is in the robustness group: the suite flew it beside the PD and the adaptive guide
    suite = (run / runner.ROBUSTNESS_CSV).read_text().splitlines()
    assert len(suite) == 1 + 7 and "AdaptivePDHoverGuide_return" in suite[0]
    assert "## 9. Robustness" in text and "| DR 0.2 | " in text and "* Targets, **main**:" in text
    assert "; that call trained 1 of its 1 runs in " in text.splitlines()[2]
    n_full = 3 * len(experiments.PROFILES["full"]["only"])
    assert f"0 of {n_full} finished" in text  # a 6 k-step run is not part of --full's 600 k runs
    summary = json.loads((tmp_path / "archive" / "summary.json").read_text())
    row = summary["experiments"]["main"]
    assert set(row) >= {"mean_return_b", "std_return_b", "pct_of_pd_guide", "full_length", "seeds", "steps", "minutes_per_run"}
    assert row["mean_return_b"] == pytest.approx(final["b_autonomous"]["mean_return"], abs=0.01) and row["std_return_b"] == 0.0
    assert row["pct_of_pd_guide"] == pytest.approx(100 * row["mean_return_b"] / final["guide"]["mean_return"], abs=0.02)
    assert row["seeds"] == [0] and row["steps"] == 6000 and row["minutes_per_run"] > 0
    meta = json.loads((run / "run.json").read_text())
    assert meta["train_minutes"] > 0 and 0 < meta["eval_minutes"] < meta["train_minutes"] + 1
    for png in ("main_curve.png", "final_returns.png"):
        assert (tmp_path / "archive" / "reproduce" / png).stat().st_size > 1000
    # a second call skips finished runs (no retraining) and rebuilds the same tables
    mtime = (run / "final_evaluation.json").stat().st_mtime
    reproduce.main(argv)
    assert (run / "final_evaluation.json").stat().st_mtime == mtime
    assert "that call trained 0 of its 1 runs in 0 min (1 had finished before)" in report.read_text()
    assert capsys.readouterr().out.count("(finished before)") == 1  # the progress line of the skipped run
    # ... but a run whose config no longer matches today's derivation is stale: it is trained again
    stale = dict(config, gradient_steps=config["gradient_steps"] + 1)
    (run / "config.yml").write_text(yaml.safe_dump({"DroneHover-v0": stale}))

    def no_training(*args, **kwargs):
        raise RuntimeError("would retrain")

    monkeypatch.setattr(runner.subprocess, "run", no_training)
    with pytest.raises(RuntimeError, match="would retrain"):
        runner.run_one(experiments.BY_NAME["main"], 0, 6000, out, eval_freq=3000)
    assert "main seed 0: retraining, the finished run had other values of gradient_steps" in capsys.readouterr().out
    monkeypatch.undo()
    # the archive next to the report is a valid run folder: a fresh clone rebuilds the report from it
    archive = tmp_path / "archive" / "reproduce" / "runs"
    assert (archive / "main" / "seed0" / "final_evaluation.json").exists()
    rebuilt = tmp_path / "rebuilt.md"
    reproduce.main(["--report-only", "--out", str(archive), "--report", str(rebuilt)])
    assert "| main | 0 | 6,000 |" in rebuilt.read_text()


def test_full_profile_duration_sums_the_measured_runs():
    def runs(name, metas):
        return run_records.Runs(experiments.BY_NAME[name], [{}] * len(metas), [{}] * len(metas), metas, [])

    full = dict(steps=600_000, train_minutes=50.0, eval_minutes=10.0)
    found = {"main": runs("main", [dict(full, seed=s) for s in (0, 1, 2, 3)]),  # seed 3 is not part of --full
             "td3": runs("td3", [dict(full, seed=0), dict(full, seed=1, steps=60_000)])}  # nor is a 60 k run
    text = "\n".join(full_profile_duration(found))
    assert (
        f"4 of {3 * len(experiments.PROFILES['full']['only'])} finished" in text
        and "**240 run-minutes** (training 200, final evaluations 40)" in text
    )
    assert "**2.0 h**" in text  # two runs at a time


def test_paired_differences_match_seeds_and_budgets():
    def runs(name, rows):  # rows: (seed, steps, return, minutes)
        metas = [dict(seed=s, steps=n, train_minutes=t) for s, n, _, t in rows]
        finals = [{"b_autonomous": {"mean_return": r}} for _, _, r, _ in rows]
        return run_records.Runs(experiments.BY_NAME[name], finals, [{}] * len(rows), metas, [])

    found = {
        "main": runs("main", [(0, 600_000, 380.0, 10.0), (1, 600_000, 370.0, 10.0), (2, 60_000, 300.0, 1.0)]),
        "td3bc_small": runs("td3bc_small", [(0, 600_000, 385.0, 30.0), (2, 600_000, 390.0, 30.0), (1, 600_000, 360.0, 30.0)]),
    }
    diffs, ratio = paired_differences(found, "td3bc_small", "main")
    assert diffs == [5.0, -10.0] and ratio == 3.0  # seed 2 ran with another budget: not paired
    assert paired_differences(found, "no_bc", "main") is None


def _fake_run(folder, seed, steps, ret, best=False):
    run = folder / f"seed{seed}"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps(dict(experiment=folder.name, seed=seed, steps=steps, train_minutes=1.0)))
    (run / "config.yml").write_text("DroneHover-v0: {}\n")
    (run / "curve.csv").write_text("timesteps,mean_return,full_length\n1000,0.0,0.0\n")
    (run / "final_evaluation.json").write_text(json.dumps({"b_autonomous": {"mean_return": ret}}))
    if best:
        (run / runner.BEST_EVALUATION).write_text(json.dumps({"b_autonomous": {"mean_return": ret}}))
    return run


def test_report_takes_one_budget_and_the_archive_mirrors_it(tmp_path, capsys):
    out = tmp_path / "runs" / "bc"
    full = [_fake_run(out, 0, 600_000, 220.0)]
    _fake_run(out, 1, 60_000, -10.0)  # a quick run left in the same folder
    runs = run_records.load_runs([tmp_path / "runs"])
    assert [m["seed"] for m in runs["bc"].meta] == [0] and list(runs["bc"].final("b_autonomous")) == [220.0]
    assert "bc: seed1 ran with fewer steps than 600,000; left out of the report" in capsys.readouterr().err
    archive = tmp_path / "archive" / "bc"
    _fake_run(archive, 1, 60_000, -10.0)  # an older report's seeds ...
    _fake_run(archive, 0, 60_000, -12.0, best=True)
    run_records.archive_runs(full, archive)
    assert sorted(p.name for p in archive.iterdir()) == ["seed0"]  # ... leave with it
    assert json.loads((archive / "seed0" / "run.json").read_text())["steps"] == 600_000
    assert not (archive / "seed0" / runner.BEST_EVALUATION).exists()  # the new run kept no best checkpoint


def _runs(name, returns, best_during_training, seeds=None):
    """Runs of ``name`` with final (b) ``returns`` per seed and learning curves peaking at ``best_during_training``."""
    seeds = seeds or list(range(len(returns)))
    finals = [{key: {"mean_return": r, "full_length": 0.98, "mean_length": 490} for key in
               ("b_autonomous", "a_guide_warmup", "b_autonomous@start")} for r in returns]
    curves = [{"timesteps": np.array([20_000.0, 40_000.0]), "mean_return": np.array([-100.0, best])}
              for best in best_during_training]
    metas = [dict(seed=s, steps=600_000, train_minutes=10.0) for s in seeds]
    return run_records.Runs(experiments.BY_NAME[name], finals, curves, metas, [])


def test_findings_read_every_number_from_the_runs():
    guide = 400.0
    found = {"main": _runs("main", [380.0, 384.0], [396.0, 398.0]),
             "rl_k50": _runs("rl_k50", [390.0, 386.0], [401.0, 401.0]),
             "rl_interval": _runs("rl_interval", [375.0], [395.0]),
             "bc": _runs("bc", [220.0], [250.0]),
             "bc_interval": _runs("bc_interval", [-60.0], [-10.0]),
             "bc_k2": _runs("bc_k2", [200.0], [230.0])}
    text = "\n".join(findings(found, guide))
    assert "95.5 % of the guide with its final weights, reaching the 95 %" in text and "The guide is not beaten." in text
    # slope spreads of the mean best returns: online 395.0 (interval) .. 401.0 (k = 50); BC -10.0 .. 250.0 (adaptive)
    assert "GuidedTD3 spans 395.0 (interval) to 401.0 (k = 50), a spread of 6; 4 without interval (paper's TD3" in text
    assert "BC spans -10.0 (interval) to 250.0 (adaptive), a spread of 260; 20 without interval (paper" in text
    assert "BC's spread comes from interval alone" in text  # 20 <= the paper's 37
    assert "the reverse of the paper's ordering" in text
    assert "k = 50 +10.0, +2.0 (mean +6.0); interval -5.0" in text  # paired by seed; interval ran seed 0 only
    assert "Offline BC on guide data (adaptive slope) reaches 220.0 (55.0 % of the guide)" in text
    # a default above the guide says so, and a BC as slope-insensitive as the paper's keeps the paper's ordering
    found["main"] = _runs("main", [410.0, 420.0], [396.0, 398.0])
    found["bc_interval"] = _runs("bc_interval", [200.0], [249.0])
    found["bc_k2"] = _runs("bc_k2", [200.0], [245.0])  # BC spread 5 < online 6
    text = "\n".join(findings(found, guide))
    assert "103.8 % of the guide" in text and "It beats the guide." in text
    assert "As in the paper, the online method is the more slope-sensitive one." in text and "alone" not in text
    assert findings({"bc": found["bc"]}, guide) == []  # no default, no comparison


def test_stop_file_lets_the_run_in_flight_finish_and_starts_no_other(tmp_path, monkeypatch, capsys):
    out = tmp_path / "runs"
    out.mkdir()
    (out / runner.STOP_FILE).write_text("")  # left over from an earlier stop: removed when the driver starts
    result = {"mean_return": 300.0, "full_length": 1.0, "mean_length": 500}
    finals = {
        k: result
        for k in ("b_autonomous", "a_guide_warmup", "guide", "b_autonomous@start", "a_guide_warmup@start", "guide@start")
    }

    def finished(exp, seed, steps):
        run = _fake_run(out / exp.name, seed, steps, 300.0)
        (run / "final_evaluation.json").write_text(json.dumps(finals))
        (run / "config.yml").write_text(yaml.safe_dump({experiments.ENV_ID: runner.derive_config(exp, steps, run)}))
        return run

    finished(experiments.BY_NAME["bc"], 2, 1000)  # finished by an earlier call: still reported after the stop
    started = []

    def fake_subprocess_run(cmd, **kwargs):
        # the real run_one decides what to train; only its training and evaluation processes are faked
        if "sb3_spiking.tasks.drone.evaluation" in cmd:
            Path(cmd[cmd.index("--json") + 1]).write_text(json.dumps(finals))
            return subprocess.CompletedProcess(cmd, 0)
        run_dir = Path(cmd[cmd.index("--conf-file") + 1]).parent
        started.append((run_dir.parent.name, int(cmd[cmd.index("--seed") + 1])))
        (out / runner.STOP_FILE).write_text("")  # the first run asks the driver to stop
        model = Path(cmd[cmd.index("-f") + 1]) / "guide_bc" / f"{experiments.ENV_ID}_1" / f"{experiments.ENV_ID}.zip"
        model.parent.mkdir(parents=True)
        model.write_bytes(b"")
        (run_dir / "curve.csv").write_text("timesteps,mean_return,full_length\n1000,0.0,0.0\n")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(runner.subprocess, "run", fake_subprocess_run)
    reproduce.main(["--only", "bc", "--seeds", "0", "1", "2", "--steps", "1000", "--jobs", "1", "--out", str(out),
                    "--report", str(tmp_path / "r.md")])
    assert started == [("bc", 0)]
    printed = capsys.readouterr().out
    assert "that call trained 1 of its 3 runs in 0 min (1 had finished before, 1 not started)" in printed
    assert "; not started: bc seed 1\n" in printed and "bc           seed 2: (b)   300.0" in printed


def test_robustness_runs_get_the_suite_and_a_report_section(tmp_path, monkeypatch):
    from sb3_spiking.tasks.drone.evaluation import ROBUSTNESS_CONDITIONS

    out = tmp_path / "runs"
    exp = experiments.BY_NAME["robust"]
    assert exp.env_id == "DroneHoverRobust-v0" and "robustness" in experiments.BY_NAME["main"].groups
    assert "robust" not in experiments.PROFILES["quick"]["only"] and "robust" in experiments.PROFILES["full"]["only"]
    assert runner.derive_config(exp, 1000, tmp_path)["guide"] == runner.ADAPTIVE_GUIDE
    calls = []

    def fake_suite(cmd, **kwargs):  # the suite's process only: the runs below are finished
        calls.append(cmd)
        rows = []
        for i, cond in enumerate(ROBUSTNESS_CONDITIONS):
            spiking = 380.0 - 10 * i + (5.0 if "seed1" in cmd[cmd.index("--csv") + 1] else 0.0)
            rows.append(dict(condition=cond.name, label=cond.label, n_episodes=100, spiking_return=spiking, spiking_std=50.0,
                             spiking_full_length=0.97, pd_return=400.0 - 10 * i, pd_std=80.0, pd_full_length=1.0,
                             AdaptivePDHoverGuide_return=400.0, AdaptivePDHoverGuide_std=80.0,
                             AdaptivePDHoverGuide_full_length=1.0, spiking_pct_of_pd=100 * spiking / (400.0 - 10 * i)))
        with open(cmd[cmd.index("--csv") + 1], "w") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(runner.subprocess, "run", fake_suite)
    for seed in (0, 1):
        run = _fake_run(out / "robust", seed, 1000, 380.0)
        (run / "config.yml").write_text(yaml.safe_dump({exp.env_id: runner.derive_config(exp, 1000, run)}))
        model = out / "robust" / f"seed{seed}" / "logs" / "m.zip"
        model.parent.mkdir()
        model.write_bytes(b"")
        (run / "run.json").write_text(json.dumps(dict(experiment="robust", seed=seed, steps=1000, train_minutes=1.0,
                                                      model=str(model.relative_to(out)))))
        assert runner.run_one(exp, seed, 1000, out) == run  # finished: not trained again, but the suite is flown
    assert len(calls) == 2 and all(runner.ADAPTIVE_GUIDE in c and "--suite" in c for c in calls)
    runner.run_one(exp, 0, 1000, out)
    assert len(calls) == 2  # once per run
    runs = run_records.load_runs([out])
    text = "\n".join(robustness_section({"robust": runs["robust"]}))
    assert "| DR 0.2 | 362.5 ± 2.5 (95.4 % of PD, 97 % full) | 380.0 (100 % full) | 400.0 (100 % full) |" in text
    assert "DR 0.2: 95.4 % of the PD guide (meets ≥ 90)" in text and "DR 0.2: 97.0 % full-length (meets ≥ 95)" in text
    assert "noise l2f 1.x: 352.5 return (meets ≥ 300)" in text and "nominal: 95.6 % of the PD guide (meets ≥ 95)" in text
    assert "--only robust --seeds 0 1 2 --steps 600000" in text
    archive = tmp_path / "archive"
    run_records.archive_runs(runs["robust"].dirs, archive / "robust")
    assert (archive / "robust" / "seed1" / runner.ROBUSTNESS_CSV).exists()  # the report can be rebuilt from the archive


def test_probe_table_reads_the_archived_probes():
    from experiments import probe_table

    folder = Path(__file__).resolve().parents[1] / "experiments" / "archive" / "guided_rl" / "probes"
    rows = probe_table.probe_rows(folder)
    assert len(rows) == len(list(folder.glob("*/seed*"))) >= 8
    p4 = next(r for r in rows if r.startswith("| weak75_p4 |"))
    # switched on at 30 k (20 % of 150 k): the last return before it, then the lowest and the last after it
    assert "| 277.7 at 30,000 | 245.4 at 50,000 | 245.4 |" in p4 and "bc_filter q" in p4
    names = [p.parent.name for p in folder.glob("*/seed0")]
    assert all(name in experiments.BY_NAME and "probe" in experiments.BY_NAME[name].groups for name in names)


def test_experiments_that_used_removed_options_are_archived_records_that_refuse_a_rerun(tmp_path, capsys):
    from experiments import reproduce
    from experiments.experiments import BY_NAME, EXPERIMENTS, PROFILES

    archived = [e.name for e in EXPERIMENTS if e.archived]
    assert {"weak75_p3", "weak75_anchor"} <= set(archived) and "paper_code" not in archived
    assert not set(archived) & {n for p in PROFILES.values() for n in p["only"]}, "no profile reruns them"
    with pytest.raises(RuntimeError, match="archived record.*bc_filter"):
        BY_NAME["weak75_p3"].check_rerunnable()
    with pytest.raises(SystemExit):
        reproduce.main(["--only", "weak75_anchor", "--seeds", "0", "--out", str(tmp_path)])
    assert "cannot be rerun" in capsys.readouterr().err and not any(tmp_path.iterdir())
    BY_NAME["paper_code"].check_rerunnable()  # the authors'-code row stays rerunnable (actor_q_input="buffer")
