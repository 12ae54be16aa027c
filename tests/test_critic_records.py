"""The critic study's tables (docs/critic.md) regenerate from their committed records (issue 30)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
