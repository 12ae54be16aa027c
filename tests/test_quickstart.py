"""The README's quick start is examples/quickstart_pendulum.py, and it runs and learns."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "quickstart_pendulum.py"


def test_the_readme_shows_the_example_file():
    code = EXAMPLE.read_text()
    body = code[code.index("import gymnasium") :]
    assert f"```python\n{body}```" in (ROOT / "README.md").read_text()
    assert len(body.strip().splitlines()) <= 16  # a quick start


def test_the_quick_start_runs_and_the_actor_balances_the_pendulum():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(EXAMPLE)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    mean = float(re.search(r"mean return (-?[0-9.]+)", result.stdout).group(1))
    assert mean > -400  # the guide: about -140; an untrained actor: about -1200
