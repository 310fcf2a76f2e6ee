"""Running ``python -m bench`` for real, as a user would, from the tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def run_bench(
    tmp_path: Path, *args: str, timeout: float = 150, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """``python -m bench ARGS`` with its JSON, plots and temp files under ``tmp_path``; the one scenario's
    JSON document. The run must exit 0 and report no error, and leave no temp files behind."""
    out = tmp_path / "out.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", *args,
         "--json", str(out), "--out-dir", str(tmp_path), "--work-dir", str(tmp_path)],
        cwd=REPO, env=env or bench_env(), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    doc = json.loads(out.read_text())
    [scenario] = doc["scenarios"]
    assert scenario["error"] is None, scenario["error"]
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(("tb", "tdm", "tst", ".bench-trash"))]
    assert not left, f"temp dirs left behind: {left}"
    scenario["machine"], scenario["options"] = doc["machine"], doc["options"]
    return scenario


def bench_env(**extra: str) -> dict[str, str]:
    """The environment ``python -m bench`` gets in the tests: ours, without DATABASE_URL, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(extra)
    return env
