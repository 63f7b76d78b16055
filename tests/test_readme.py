"""The README stays the front door: its test command is what CI runs, and every setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from perfectmatch.config import env_variables

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    blocks = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    test_cmd = next(b.strip() for b in blocks if "pytest" in b)
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


def test_every_setting_is_documented() -> None:
    missing = [name for name, _, _ in env_variables() if f"`{name}`" not in README]
    assert not missing, f"README lacks: {missing}"


def test_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block of the README runs as written (in a scratch directory)."""
    monkeypatch.chdir(tmp_path)
    for var in ("OPENAI_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    for block in re.findall(r"```python\n(.*?)\n```", README, flags=re.S):
        exec(compile(block, "README.md", "exec"), {})


def test_every_cli_command_is_in_the_reference() -> None:
    import typer.main

    from perfectmatch.cli import app

    def walk(group: object, prefix: tuple[str, ...] = ()) -> list[str]:
        out: list[str] = []
        for name, cmd in group.commands.items():  # type: ignore[attr-defined]
            out += walk(cmd, (*prefix, name)) if hasattr(cmd, "commands") else [" ".join((*prefix, name))]
        return out

    missing = [c for c in walk(typer.main.get_command(app)) if f"| `{c}` |" not in README]
    assert not missing, f"README's CLI reference lacks: {missing}"
