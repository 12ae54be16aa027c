"""examples/train_drone.py runs end to end: curve CSV, adaptive slope fed, final evaluation, model."""

import csv
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_train_drone_example(tmp_path):
    out = tmp_path / "drone"
    cmd = [sys.executable, os.path.join(ROOT, "examples", "train_drone.py"), "--steps", "8000", "--n-envs", "4",
           "--eval-freq", "2000", "--gradient-steps", "2", "--final-episodes", "4", "--no-progress", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(open(out / "eval.csv")))
    assert [int(r["timesteps"]) for r in rows] == [2000, 4000, 6000, 8000]
    # the adaptive slope (start 2) is fed by these evaluations: it moves after the first one
    assert float(rows[0]["slope"]) == 2.0 and float(rows[-1]["slope"]) != 2.0
    assert [int(float(r["curriculum_stage"])) for r in rows][-1] == 5  # the curriculum reached its end
    results = json.load(open(out / "final_evaluation.json"))
    assert results["guide"]["full_length"] == 1.0  # the PD guide hovers on all 4 starts
    assert (out / "guided_td3_drone.zip").exists()
    from sb3_spiking import GuidedTD3

    model = GuidedTD3.load(out / "guided_td3_drone.zip", device="cpu")  # the default controller's form
    assert model.actor.net.readout_kind == "leaky" and model.actor.net.fcs[0].in_features == 18  # no history
    assert model.actor.net.feedback is not None and "command" in model.observation_space.spaces
    assert "Final evaluation over 4 initial states" in proc.stdout
