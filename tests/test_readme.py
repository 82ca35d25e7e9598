"""The README's two set-up commands exist, and CI runs the test one verbatim."""

from __future__ import annotations

import re

from conftest import ROOT


def _bash_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_has_exactly_two_setup_commands():
    setup = (ROOT / "README.md").read_text().split("## Set-up", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", setup, flags=re.S)
    assert len(blocks) == 2
    assert all(len(b.strip().splitlines()) == 1 for b in blocks)
    main, tests = (b.strip() for b in blocks)
    assert "torch==2.13.0" in main and "camdeblur demo" in main
    assert "torch==2.13.0" in tests and "pytest" in tests


def test_ci_runs_readme_test_command_verbatim():
    tests_cmd = _bash_blocks()[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests_cmd in ci
