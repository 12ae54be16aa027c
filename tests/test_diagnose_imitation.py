"""experiments/diagnose_imitation.py: per-phase and paired comparison of drone controllers with the PD guide."""

import numpy as np

from experiments import diagnose_imitation as diag


def test_guide_against_itself_and_group_rows():
    guide = diag.diagnose(None, n_episodes=4)
    assert guide["crashed"] == 0 and guide["returns"].shape == (4,)
    assert np.isclose(guide["return"], guide["returns"].mean())
    assert guide["reward 150-499"] > 0.9  # the PD guide hovers close to the per-step maximum of 1

    def fake(ret, better):
        row = {k: 0.0 for k in guide if k != "returns"}
        return dict(row, **{"return": ret, "crashed": 1.0, "paired median": -ret / 100, "better": better})

    rows = {"PD guide": dict(guide, **{"paired median": 0.0, "better": 0.0}), "final0": fake(300.0, 2), "final1": fake(400.0, 4)}
    groups = {"PD guide": [rows["PD guide"]], "final": [rows["final0"], rows["final1"]]}
    table = diag.format_table(rows, groups, n_good=4).splitlines()
    assert table[3].startswith("| final0 | 300.0 | 1 |") and table[3].endswith("| -3.0 | 2 |")
    assert table[-1].startswith("| **final** (mean ± std of 2) | 350.0 ± 50.0 | 1.0 ± 0.0 |")
    assert table[-1].endswith("| -3.5 ± 0.5 | 3.0 ± 1.0 |")
    assert len(table) == 2 + 3 + 1  # header, separator, 3 models, one group row (a group of one gets none)
    assert table[2].endswith("| – | – |")  # the guide has no paired difference with itself
