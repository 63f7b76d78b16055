"""``perfectmatch questionnaire``: validate a bank, take the questionnaire in the terminal, simulate respondents."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from perfectmatch.cli import state
from perfectmatch.cli._output import emit, progress_to_stderr
from perfectmatch.errors import InvalidAnswerError, InvalidInputError
from perfectmatch.questionnaire import Bank, Question, QuestionType, default_bank, load_bank
from perfectmatch.questionnaire.respondents import make_respondents, simulate
from perfectmatch.questionnaire.selection import STRATEGIES
from perfectmatch.questionnaire.session import Session
from perfectmatch.questionnaire.validation import check_bank, is_usable, validate

app = typer.Typer(
    help="The adaptive questionnaire: validate banks, take it in the terminal, simulate respondents.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

BankOpt = Annotated[
    Path | None, typer.Option("--bank", help="question bank file (default: the built-in bank)")
]


def _bank(path: Path | None) -> Bank:
    """The built-in bank, or a bank file that must pass validation (else ``BankValidationError``)."""
    return default_bank() if path is None else check_bank(load_bank(path))


@app.command("validate")
def validate_cmd(
    ctx: typer.Context,
    bank: Annotated[Path, typer.Argument(help="bank file (.json with comments, .json5, .yaml)")],
) -> None:
    """Report every problem of a question bank with its location; exit 1 if the bank is unusable."""
    loaded = load_bank(bank)
    problems = validate(loaded)
    usable = is_usable(problems)
    st = state(ctx)
    result = {
        "bank": str(bank),
        "version": loaded.version,
        "questions": len(loaded.questions),
        "blocks": len(loaded.blocks),
        "usable": usable,
        "problems": [
            {
                "severity": p.severity,
                "code": p.code,
                "block": p.block,
                "question": p.question,
                "rule": p.rule,
                "message": p.message,
            }
            for p in problems
        ],
    }
    if st.json:
        emit(result, as_json=True)
    else:
        out = Console()
        for p in problems:
            out.print(str(p), markup=False, highlight=False)
        verdict = "usable" if usable else "NOT usable"
        out.print(
            f"{bank}: {len(loaded.questions)} questions in {len(loaded.blocks)} blocks, version {loaded.version}: "
            f"{verdict} ({sum(p.severity == 'error' for p in problems)} errors, "
            f"{sum(p.severity == 'warning' for p in problems)} warnings)",
            markup=False,
            highlight=False,
        )
    if not usable:
        raise typer.Exit(1)


@app.command("simulate")
def simulate_cmd(
    ctx: typer.Context,
    respondents: Annotated[
        int, typer.Option("--respondents", "-n", min=1, help="synthetic respondents")
    ] = 200,
    bank: BankOpt = None,
    strategy: Annotated[str, typer.Option(help="most_informative, fixed, random, or all")] = "all",
    seed: Annotated[int, typer.Option(help="seed of the synthetic population")] = 0,
    target_sd: Annotated[
        float | None, typer.Option(help="skip questions once their dimensions reach this posterior sd")
    ] = None,
    fatigue: Annotated[bool, typer.Option("--fatigue/--no-fatigue", help="respondents tire and quit")] = True,
) -> None:
    """Run synthetic respondents (known true scores, fatigue) through a bank; print completion and accuracy."""
    names = list(STRATEGIES) if strategy == "all" else [strategy]
    if any(n not in STRATEGIES for n in names):
        raise InvalidInputError(f"unknown strategy {strategy!r}; choose one of {[*STRATEGIES, 'all']}")
    loaded = _bank(bank)
    st = state(ctx)
    rows = []
    with progress_to_stderr(enabled=not st.json) as progress:
        for name in names:
            people = make_respondents(respondents, seed=seed, fatigue=fatigue)
            report = simulate(
                loaded, people, strategy=name, seed=seed, target_sd=target_sd, progress=progress
            )
            rows.append(report)
    if st.json:
        emit(rows, as_json=True)
        return
    out = Console()
    table = Table(title=f"{respondents} simulated respondents, bank {loaded.version}")
    for col in ("strategy", "complete", "finished", "mean path", "fatigue seen", "dropped"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.strategy,
            f"{r.completion_rate:.0%}",
            f"{r.finished_rate:.0%}",
            f"{r.mean_path_length:.1f}",
            f"{r.fatigue_detected_rate:.0%}",
            f"{r.mean_dropped:.1f}",
        )
    out.print(table)
    acc = Table(title="accuracy against the true scores: RMSE (prior sd) / correlation")
    acc.add_column("strategy")
    for d in rows[0].rmse:
        acc.add_column(d)
    for r in rows:
        acc.add_row(r.strategy, *(f"{r.rmse[d]:.2f} / {r.correlation[d]:.2f}" for d in r.rmse))
    out.print(acc)


# -- take ---------------------------------------------------------------------------------------

QUIT = ":q"
BACK = ":b"


def _show(err: Console, s: Session, q: Question) -> None:
    p = s.progress()
    block = s.bank.block_of.get(q.id, "")
    title = next((b.title or b.id for b in s.bank.blocks if b.id == block), block)
    err.print(f"\n[dim][{p.fraction:.0%} · {p.answered} answered · {title}][/dim]")
    err.print(f"[bold]{q.text}[/bold]")
    if q.help:
        err.print(f"[dim]{q.help}[/dim]")
    if q.type.is_choice:
        for i, o in enumerate(q.options, 1):
            err.print(f"  {i}. {o.text}")
        if q.type is QuestionType.MULTIPLE:
            err.print("[dim]  (several numbers, separated by commas)[/dim]")
    elif q.type is QuestionType.LIKERT:
        lo, hi = q.bounds
        labels = f" ({q.labels[0]} … {q.labels[-1]})" if q.labels else ""
        err.print(f"  {int(lo)}-{int(hi)}{labels}")
    elif q.type is QuestionType.NUMERIC:
        lo, hi = q.bounds
        err.print(f"  a number from {lo:g} to {hi:g}")


def _parse(q: Question, raw: str) -> Any:
    """Turn typed text into an answer value (option numbers or ids, numbers); the session checks the rest."""
    raw = raw.strip()
    if q.type.is_choice:
        parts = [x.strip() for x in raw.split(",") if x.strip()]
        ids = [q.option_ids[int(x) - 1] if x.isdigit() and 0 < int(x) <= len(q.options) else x for x in parts]
        return ids if q.type is QuestionType.MULTIPLE else (ids[0] if ids else raw)
    if q.type in (QuestionType.LIKERT, QuestionType.NUMERIC):
        try:
            return int(raw) if raw.lstrip("-").isdigit() else float(raw)
        except ValueError:
            return raw  # rejected by the session with a clear message
    return raw


def _ask(text: str, *, default: str, suffix: str = ": ") -> str | None:
    """One line from the user; ``None`` at end of input (treated like :q)."""
    try:
        return str(
            typer.prompt(text, default=default, show_default=bool(default), err=True, prompt_suffix=suffix)
        )
    except typer.Abort:
        return None


def _save(s: Session, path: Path) -> None:
    path.write_text(json.dumps(s.to_dict(), indent=1), encoding="utf-8")


@app.command("take")
def take_cmd(
    ctx: typer.Context,
    bank: BankOpt = None,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="continue the session saved in this file")
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option(
            "--save", help="session file (default: the --resume file or ./questionnaire-session.json)"
        ),
    ] = None,
    strategy: Annotated[str, typer.Option(help="most_informative, fixed or random")] = "most_informative",
    target_sd: Annotated[
        float | None, typer.Option(help="skip questions once their dimensions reach this posterior sd")
    ] = None,
) -> None:
    """Take the questionnaire in the terminal; :b changes the previous answer, :q stops (saved after every answer)."""
    loaded = _bank(bank)
    if resume is not None:
        try:
            data = json.loads(resume.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"{resume}: cannot read saved session: {exc}") from exc
        session = Session.from_dict(loaded, data)
    else:
        session = Session(loaded, strategy=strategy, target_sd=target_sd)
    target = save or resume or Path("questionnaire-session.json")
    err = Console(stderr=True, highlight=False)
    err.print(
        f"[bold]{loaded.title or 'Questionnaire'}[/bold] — {BACK} changes your previous answer, {QUIT} stops; "
        f"answers are saved to {target}"
    )
    stopped = told = False
    while (q := session.next_question()) is not None:
        _show(err, session, q)
        started = time.monotonic()
        raw = _ask(">", default="", suffix=" ")
        if raw is None or raw.strip() == QUIT:
            stopped = True
            break
        change = raw.strip() == BACK
        if change:
            if not session.answers:
                err.print("[yellow]Nothing to change yet.[/yellow]")
                continue
            q = loaded.question(session.answers[-1].question_id)
            err.print("[yellow]Changing your previous answer:[/yellow]")
            _show(err, session, q)
            started = time.monotonic()
            raw = _ask(">", default="", suffix=" ")
            if raw is None:
                stopped = True
                break
        seconds = time.monotonic() - started
        importance = None
        if q.wants_importance:
            imp = _ask("How important is this to you? (1-10)", default="5")
            if imp is None:
                stopped = True
                break
            importance = int(imp) if imp.strip().isdigit() else -1
        try:
            if change:
                session.change_answer(q.id, _parse(q, raw), importance=importance, seconds=seconds)
            else:
                session.answer(q.id, _parse(q, raw), importance=importance, seconds=seconds)
        except InvalidAnswerError as exc:
            err.print(f"[red]{exc}[/red] — please try again")
            continue
        _save(session, target)
        report = session.completion()
        if report.complete and not told and not session.finished:
            err.print(
                "[green]Your profile is complete. You can stop now (:q) or keep going for better matches.[/green]"
            )
            told = True
    _save(session, target)
    report = session.completion()
    st = state(ctx)
    scores = session.scores()
    result: dict[str, Any] = {
        "session_file": str(target),
        "stopped": stopped,
        "complete": report.complete,
        "progress": round(session.progress().fraction, 3),
    }
    if st.json:
        result["criteria"] = {c.name: {"met": c.met, "detail": c.detail} for c in report.criteria}
        result["scores"] = {
            d.value: {"score": round(x.score, 1), "sd": round(x.sd, 3)} for d, x in scores.items()
        }
    else:
        for c in report.criteria:
            result[c.name] = ("met - " if c.met else "not met - ") + c.detail
        for d, x in scores.items():
            result[f"score {d.value}"] = f"{x.score:.0f} (90% interval {x.low:.0f}-{x.high:.0f})"
    emit(result, as_json=st.json, title="questionnaire")
