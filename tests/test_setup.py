"""scripts/setup.sh installs once: `make test` after `make run` adds the test extras on top, and
`make run` after `make test` installs nothing. Run for real against a copy of the project whose
.venv/bin/python is a recorder (pip is the one thing not run)."""

from __future__ import annotations

import os
import shutil
import subprocess

from conftest import ROOT

RECORDER = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/../calls.log"
"""


def run_setup(project, *args) -> list[str]:
    log = project / ".venv" / "calls.log"
    log.write_text("")
    subprocess.run(["bash", str(project / "scripts" / "setup.sh"), *args], check=True, cwd=project, env={**os.environ}, timeout=60)
    return log.read_text().splitlines()


def installs(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith("-m pip install") and "--upgrade pip" not in c]


def test_run_and_test_do_not_reinstall_each_others_venv(tmp_path):
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    for name in ("pyproject.toml", "constraints.txt", "scripts/setup.sh"):
        shutil.copy(ROOT / name, project / name)
    python = project / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(RECORDER)
    python.chmod(0o755)

    first = installs(run_setup(project))  # make run on a fresh checkout
    assert any(c.endswith("-e .") for c in first) and not any("[test]" in c for c in first)
    assert installs(run_setup(project, "--test")) == ["-m pip install --quiet -c constraints.txt -e .[test]"]  # make test: extras only
    assert installs(run_setup(project)) == []  # make run again: nothing
    assert installs(run_setup(project, "--test")) == []  # make test again: nothing
    (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text() + "\n# changed\n")
    again = installs(run_setup(project, "--test"))  # a changed pyproject installs everything again
    assert any(c.endswith("-e .") for c in again) and any(c.endswith("-e .[test]") for c in again)
