"""A respondent's questionnaire session: present, answer, change, progress, scores, completion, save/resume.

A session is a fold over its event log (answers and answer changes, oldest first): ``to_dict``
stores the log and the presented questions, ``from_dict`` replays it through the same code, so a
resumed session is in exactly the state of one that never stopped and continues identically.
Every public method validates its input completely before touching the state: a bad answer raises
``InvalidAnswerError`` (or ``UnknownQuestionError``) and leaves the session unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from perfectmatch.errors import InvalidAnswerError, InvalidInputError
from perfectmatch.models import Answer, Dimension, QuestionnaireResponse, UserId
from perfectmatch.questionnaire.answers import coerce_answer
from perfectmatch.questionnaire.completion import CompletionPolicy, CompletionReport, check
from perfectmatch.questionnaire.fatigue import FatigueConfig, FatigueReport, Step
from perfectmatch.questionnaire.models import Bank, Question, QuestionType
from perfectmatch.questionnaire.path import PathState, Progress
from perfectmatch.questionnaire.scoring import DimensionScore
from perfectmatch.questionnaire.selection import make_strategy

__all__ = ["QuestionnaireResult", "Session", "coerce_answer"]

FORMAT = 1


@dataclass(frozen=True, slots=True)
class QuestionnaireResult:
    """What the caller acts on when a session ends: completion, the per-criterion report, the response."""

    complete: bool
    report: CompletionReport
    response: QuestionnaireResponse
    scores: dict[Dimension, DimensionScore]


class Session:
    """One respondent working through a bank.

    Parameters
    ----------
    bank
        The question bank (validate it first; ``validation.validate``).
    strategy
        ``"most_informative"`` (default), ``"fixed"`` or ``"random"``.
    seed
        Seed of the random strategy (a resumed session keeps it).
    fatigue, completion
        Thresholds for fatigue detection and completion.
    target_sd
        If given, a scored question becomes redundant (is skipped) once every dimension it
        measures has a posterior standard deviation at or below this value (latent units; the
        prior is 1). Critical, high-importance and nominal questions are always asked.
    """

    def __init__(
        self,
        bank: Bank,
        *,
        strategy: str = "most_informative",
        seed: int = 0,
        fatigue: FatigueConfig = FatigueConfig(),
        completion: CompletionPolicy = CompletionPolicy(),
        target_sd: float | None = None,
    ) -> None:
        if target_sd is not None and not 0.0 < target_sd < 1.0:
            raise InvalidInputError(f"target_sd must be between 0 and 1 (the prior sd), got {target_sd}")
        self.bank = bank
        self.target_sd = target_sd
        self.strategy_name = strategy
        self.seed = seed
        self.fatigue_config = fatigue
        self.policy = completion
        self._strategy = make_strategy(strategy)
        self._state = self._fresh_state()
        self._events: list[dict[str, Any]] = []
        self._presented: list[str] = []

    def _fresh_state(self) -> PathState:
        return PathState(
            self.bank, self._strategy, seed=self.seed, fatigue=self.fatigue_config, target_sd=self.target_sd
        )

    # -- presenting and answering ---------------------------------------------------------------

    def present(self, n: int = 1) -> list[Question]:
        """The next ``n`` questions to show (fewer near the end, none when finished); they become answerable."""
        self._presented = self._state.ranked(max(1, n))
        return [self.bank.questions[q] for q in self._presented]

    def next_question(self) -> Question | None:
        """Present and return the single next question, or ``None`` when the path is exhausted."""
        shown = self.present(1)
        return shown[0] if shown else None

    @property
    def presented(self) -> tuple[str, ...]:
        return tuple(self._presented)

    def answer(
        self, question_id: str, value: Any, *, importance: int | None = None, seconds: float | None = None
    ) -> None:
        """Answer a presented question.

        Raises
        ------
        UnknownQuestionError
            If the bank has no such question.
        InvalidAnswerError
            If the question is not currently presented or the value, importance or seconds do not
            fit it. The session is unchanged in both cases.
        """
        q = self.bank.question(question_id)
        ans = coerce_answer(q, value, importance=importance, seconds=seconds)
        if question_id not in self._presented:
            raise InvalidAnswerError(
                f"question {question_id!r} was not presented (presented: {', '.join(self._presented) or 'none'})"
            )
        self._apply_event(_event("answer", ans))

    def change_answer(
        self, question_id: str, value: Any, *, importance: int | None = None, seconds: float | None = None
    ) -> list[str]:
        """Change an earlier answer and re-evaluate the path.

        Returns
        -------
        list of str
            Ids of later answers discarded because their question is no longer on the path.

        Raises
        ------
        UnknownQuestionError, InvalidAnswerError
            As for ``answer``; also when the question has not been answered yet.
        """
        q = self.bank.question(question_id)
        ans = coerce_answer(q, value, importance=importance, seconds=seconds)
        if question_id not in self._state.answers:
            raise InvalidAnswerError(
                f"question {question_id!r} has not been answered, so it cannot be changed"
            )
        before = set(self._state.answers)
        self._apply_event(_event("change", ans))
        return [qid for qid in before if qid not in self._state.answers]

    def _apply_event(self, event: dict[str, Any]) -> None:
        ans = _answer_of(event)
        if event["op"] == "answer":
            self._state.apply(ans)
        else:
            self._rebuild(ans)
        self._events.append(event)
        live = set(self._state.candidates())
        self._presented = [q for q in self._presented if q != ans.question_id and q in live]

    def _rebuild(self, changed: Answer) -> None:
        old = self._state
        new = self._fresh_state()
        new.dropped = set(old.dropped)
        new.in_fatigue_episode = old.in_fatigue_episode
        new.shortenings = old.shortenings
        for a in old.answers.values():
            a = changed if a.question_id == changed.question_id else a
            if a.question_id in set(new.possible()):
                new.apply(a, track_fatigue=False)
        q = self.bank.questions[changed.question_id]
        likert = float(changed.value) if q.type is QuestionType.LIKERT else None  # type: ignore[arg-type]
        new.steps = [*old.steps, Step(changed.seconds, likert, changed=True)]
        new.check_fatigue()
        self._state = new

    # -- reports --------------------------------------------------------------------------------

    @property
    def answers(self) -> tuple[Answer, ...]:
        """Answers in effect, in the order given."""
        return tuple(self._state.answers.values())

    @property
    def finished(self) -> bool:
        """No question is left on the path."""
        return self._state.finished

    @property
    def skipped(self) -> frozenset[str]:
        return frozenset(self._state.skipped)

    @property
    def dropped(self) -> frozenset[str]:
        """Questions removed from the path by fatigue shortening."""
        return frozenset(self._state.dropped)

    @property
    def redundant(self) -> frozenset[str]:
        """Questions skipped because their dimensions are already precise enough (``target_sd``)."""
        return frozenset(self._state.redundant)

    @property
    def fired_rules(self) -> dict[str, int]:
        """Index of the branching rule that fired for each answered question that has one."""
        return dict(self._state.fired)

    @property
    def dimension_weights(self) -> dict[Dimension, float]:
        return {d: float(w) for d, w in zip(Dimension, self._state.weights, strict=True)}

    def progress(self) -> Progress:
        return self._state.progress()

    def remaining_path(self) -> list[str]:
        """Questions that may still be asked, in bank order."""
        return self._state.possible()

    def scores(self) -> dict[Dimension, DimensionScore]:
        """Current dimension scores (0-100) with their uncertainty."""
        return self._state.posterior.scores(self._state.points)

    @property
    def engagement(self) -> FatigueReport:
        return self._state.fatigue

    def completion(self) -> CompletionReport:
        """The four completion criteria, each with what is missing."""
        points = {d: int(n) for d, n in zip(Dimension, self._state.points, strict=True)}
        n_open = sum(1 for qid in self._state.answers if self.bank.questions[qid].type is QuestionType.TEXT)
        return check(
            path_fraction=self.progress().fraction,
            points=points,
            critical=self.bank.critical_dimensions,
            min_points=self.bank.min_points,
            open_answers=n_open,
            engagement=self._state.fatigue.engagement,
            policy=self.policy,
        )

    def to_response(self, user_id: UserId, *, completed_at: datetime | None = None) -> QuestionnaireResponse:
        """The answers as a domain ``QuestionnaireResponse`` (open texts separate, scores 0-100)."""
        structured, texts = [], {}
        for a in self._state.answers.values():
            if self.bank.questions[a.question_id].type is QuestionType.TEXT:
                texts[a.question_id] = str(a.value)
            else:
                structured.append(a)
        return QuestionnaireResponse(
            user_id=user_id,
            bank_version=self.bank.version,
            answers=tuple(structured),
            open_texts=texts,
            dimension_scores={d: s.score for d, s in self.scores().items()},
            completed_at=completed_at,
        )

    def result(self, user_id: UserId, *, now: datetime) -> QuestionnaireResult:
        """Completion report plus the response (``completed_at = now`` only when complete)."""
        report = self.completion()
        return QuestionnaireResult(
            complete=report.complete,
            report=report,
            response=self.to_response(user_id, completed_at=now if report.complete else None),
            scores=self.scores(),
        )

    # -- save / resume --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-compatible snapshot: bank version, settings, event log, presented questions."""
        return {
            "format": FORMAT,
            "bank_version": self.bank.version,
            "strategy": self.strategy_name,
            "seed": self.seed,
            "fatigue": asdict(self.fatigue_config),
            "completion": asdict(self.policy),
            "target_sd": self.target_sd,
            "events": [dict(e) for e in self._events],
            "presented": list(self._presented),
        }

    @classmethod
    def from_dict(cls, bank: Bank, data: dict[str, Any]) -> Session:
        """Resume a session saved with ``to_dict`` by replaying its events.

        Raises
        ------
        InvalidInputError
            If the snapshot is for another bank version or its events do not replay.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InvalidInputError(f"not a saved questionnaire session (format {FORMAT} expected)")
        if data.get("bank_version") != bank.version:
            raise InvalidInputError(
                f"saved session is for bank {data.get('bank_version')!r}, not {bank.version!r}"
            )
        try:
            session = cls(
                bank,
                strategy=data["strategy"],
                seed=int(data["seed"]),
                fatigue=FatigueConfig(**data["fatigue"]),
                completion=CompletionPolicy(**data["completion"]),
                target_sd=data.get("target_sd"),
            )
            for i, event in enumerate(data["events"]):
                q = bank.question(event["question_id"])
                ans = coerce_answer(
                    q, event["value"], importance=event["importance"], seconds=event["seconds"]
                )
                if event["op"] == "answer" and not session._state.allowed(q.id):
                    raise InvalidInputError(f"event {i}: question {q.id!r} cannot be answered at that point")
                if event["op"] not in ("answer", "change"):
                    raise InvalidInputError(f"event {i}: unknown op {event['op']!r}")
                session._apply_event(_event(event["op"], ans))
            live = set(session._state.candidates())
            session._presented = [q for q in data["presented"] if q in live]
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise InvalidInputError(f"saved session is malformed: {exc!r}") from exc
        return session


def _event(op: str, ans: Answer) -> dict[str, Any]:
    value = list(ans.value) if isinstance(ans.value, tuple) else ans.value
    return {
        "op": op,
        "question_id": ans.question_id,
        "value": value,
        "importance": ans.importance,
        "seconds": ans.seconds,
    }


def _answer_of(event: dict[str, Any]) -> Answer:
    value = tuple(event["value"]) if isinstance(event["value"], list) else event["value"]
    return Answer(
        question_id=event["question_id"],
        value=value,
        importance=event["importance"],
        seconds=event["seconds"],
    )
