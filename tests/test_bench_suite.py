"""The benchmark suite runs from one command, and the README's performance table is its output."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _suite():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "benchmarks" / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_all"] = module
    spec.loader.exec_module(module)
    return module


def test_every_benchmark_script_is_in_the_suite() -> None:
    suite = _suite()
    listed = {Path(arg).name for b in suite.BENCHES for arg in b.standard if arg.endswith(".py")}
    scripts = {p.name for p in (ROOT / "benchmarks").glob("bench_*.py")}
    assert scripts <= listed, f"run_all.py misses {sorted(scripts - listed)}"


def test_readme_table_comes_from_the_suite() -> None:
    suite = _suite()
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index(suite.README_START), readme.index(suite.README_END)
    table = readme[start:end]
    assert "| benchmark | measure | ours | compared with (same run) | ratio |" in table
    assert "python benchmarks/run_all.py" in table
    for bench in suite.BENCHES:
        assert bench.title in table, f"the README table has no rows of {bench.name}"


def test_one_benchmark_end_to_end(tmp_path: Path) -> None:
    """A real (tiny) run through the suite: subprocess, JSON, summary rows, markdown, README update."""
    suite = _suite()
    out = tmp_path / "results.md"
    assert suite.main(["--quick", "--only", "candidates", "--out", str(out)]) == 0
    text = out.read_text()
    assert "exact equals brute force on the sample | True" in text
    assert "exact, 4,000 users" in text
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{suite.README_START}\nold\n{suite.README_END}\nrest\n")
    suite.update_readme(text, readme)
    assert readme.read_text() == f"intro\n{suite.README_START}\n{text}{suite.README_END}\nrest\n"


def test_a_failing_benchmark_is_reported_not_hidden(tmp_path: Path) -> None:
    suite = _suite()
    bench = suite.Bench("broken", "Broken", [sys.executable, "-c", "raise SystemExit('boom')"],
                        [sys.executable, "-c", "raise SystemExit('boom')"], lambda doc: [])
    _cmd, rows, _, note = suite.run_one(bench, quick=True)
    assert rows == [] and note is not None and note.startswith("failed (exit 1): boom")
