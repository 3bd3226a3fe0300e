"""Typed results of the Airlock API: dataclasses read from its JSON answers.

Every class has ``from_dict``; fields the API adds later are ignored (and are in
``raw`` for the top-level objects), so an older SDK keeps working against a newer
gateway. Field names are the API's (docs/api.md, docs/ai-evaluation.md).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Optional


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(args[0], value) if len(args) == 1 else value
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_convert(item, v) for v in value]
    if origin is dict:
        _, item = typing.get_args(tp)
        return {k: _convert(item, v) for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return _from_dict(tp, value)
    return value


def _from_dict(cls: Any, data: dict) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name == "raw":
            kwargs["raw"] = data
        elif f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name])
    return cls(**kwargs)


class _FromDict:
    @classmethod
    def from_dict(cls, data: dict):
        """Build an instance from the API's JSON object (unknown keys are ignored)."""
        return _from_dict(cls, data)


@dataclass
class ErrorDetail(_FromDict):
    """The API's error object: a stable ``code``, a ``message``, and the ``field`` to blame."""

    code: str = ""
    message: str = ""
    field: Optional[str] = None


@dataclass
class OutputFile(_FromDict):
    name: str = ""
    content: str = ""
    encoding: str = "utf8"


@dataclass
class Stage(_FromDict):
    """One compile or run stage: output, exit status and measurements."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    signal: str = ""
    cpu_time_ms: int = 0
    wall_time_ms: int = 0
    memory_kb: int = 0
    truncated: bool = False
    verdict: str = ""
    files: list[OutputFile] = field(default_factory=list)


@dataclass
class TestResult(Stage):
    """A test's run in judge mode (a Stage with the test's name and points)."""

    __test__ = False  # not a unittest/pytest test class

    name: str = ""
    skipped: bool = False
    points_awarded: float = 0
    checker_message: Optional[str] = None
    interactor: Optional[Stage] = None


@dataclass
class Limits(_FromDict):
    cpu_time_ms: int = 0
    wall_time_ms: int = 0
    memory_mb: int = 0
    processes: int = 0
    output_bytes: int = 0
    compile_cpu_time_ms: int = 0
    compile_wall_time_ms: int = 0
    compile_memory_mb: int = 0


@dataclass
class Execution(_FromDict):
    """An execution as GET /v1/executions/{id} returns it (``status`` queued, running or completed)."""

    id: str = ""
    status: str = ""
    tenant: str = ""
    language: str = ""
    version: str = ""
    verdict: Optional[str] = None
    message: Optional[str] = None
    compile: Optional[Stage] = None
    run: Optional[Stage] = None
    tests: Optional[list[TestResult]] = None
    failed_test: Optional[int] = None
    score: Optional[float] = None
    max_score: Optional[float] = None
    limits: Optional[Limits] = None
    isolation: Optional[str] = None
    callback_url: Optional[str] = None
    callback_status: Optional[str] = None
    callback_error: Optional[str] = None
    executor: Optional[str] = None
    attempt: Optional[int] = None
    created_at: Optional[str] = None
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    @property
    def accepted(self) -> bool:
        """True when the execution completed with the verdict ``accepted``."""
        return self.status == "completed" and self.verdict == "accepted"


@dataclass
class Submission(_FromDict):
    """The answer to a submission that did not wait: its id and ``status`` (``queued``)."""

    id: str = ""
    status: str = ""


@dataclass
class BatchEntry(_FromDict):
    """One entry of a batch's answer: ``id`` and ``status``, or ``error`` when that request was refused."""

    id: Optional[str] = None
    status: Optional[str] = None
    error: Optional[ErrorDetail] = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ExecutionOrError(_FromDict):
    """One entry of GET /v1/executions?ids=: the ``execution``, or ``error`` (``not_found``)."""

    id: str = ""
    execution: Optional[Execution] = None
    error: Optional[ErrorDetail] = None


@dataclass
class Runtime(_FromDict):
    language: str = ""
    version: str = ""
    aliases: list[str] = field(default_factory=list)
    compiled: bool = False
    entry_file: str = ""
    default_limits: Optional[Limits] = None
    max_limits: Optional[Limits] = None


@dataclass
class CandidateRef(_FromDict):
    """A candidate as the evaluation's 202 answer lists it, with its execution's id."""

    index: int = 0
    id: str = ""
    problem: str = ""
    execution_id: str = ""
    task_id: Optional[Any] = None
    sample: Optional[int] = None


@dataclass
class EvaluationAccepted(_FromDict):
    """The answer to POST /v1/evaluations."""

    id: str = ""
    status: str = ""
    total: int = 0
    created_at: Optional[str] = None
    candidates: list[CandidateRef] = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False)


@dataclass
class EvaluationProgress(_FromDict):
    total: int = 0
    pending: int = 0
    submitted: int = 0
    queued: int = 0
    running: int = 0
    completed: int = 0
    rejected: int = 0
    queue_full_retries: int = 0


@dataclass
class EvaluationSummary(_FromDict):
    total: int = 0
    completed: int = 0
    passed: int = 0
    failed: int = 0
    by_verdict: dict[str, int] = field(default_factory=dict)
    pass_rate: float = 0.0
    cpu_time_ms: int = 0
    wall_time_ms: int = 0
    duration_ms: int = 0


@dataclass
class ProblemCount(_FromDict):
    problem: str = ""
    n: int = 0
    c: int = 0


@dataclass
class PassAtKEstimate(_FromDict):
    k: int = 0
    value: Optional[float] = None
    problems: int = 0


@dataclass
class PassAtK(_FromDict):
    problems: list[ProblemCount] = field(default_factory=list)
    estimates: list[PassAtKEstimate] = field(default_factory=list)

    def value(self, k: int) -> Optional[float]:
        """The pass@k estimate for this k, or None when it was not asked for or has no value yet."""
        for e in self.estimates:
            if e.k == k:
                return e.value
        return None


@dataclass
class CandidateResult(_FromDict):
    """One candidate of an evaluation; the benchmark formats add ``task_id``, ``sample`` and ``result``."""

    index: int = 0
    id: str = ""
    problem: str = ""
    execution_id: str = ""
    status: str = ""
    verdict: Optional[str] = None
    passed: bool = False
    failed_test: Optional[int] = None
    failed_test_name: Optional[str] = None
    tests_passed: int = 0
    tests_total: int = 0
    message: Optional[str] = None
    cpu_time_ms: int = 0
    wall_time_ms: int = 0
    memory_kb: int = 0
    duration_ms: int = 0
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    error: Optional[ErrorDetail] = None
    task_id: Optional[Any] = None
    sample: Optional[int] = None
    result: Optional[str] = None
    raw: dict = field(default_factory=dict, repr=False)


@dataclass
class Evaluation(_FromDict):
    """An evaluation as GET /v1/evaluations/{id} returns it."""

    id: str = ""
    status: str = ""
    language: str = ""
    version: str = ""
    format: Optional[str] = None
    created_at: Optional[str] = None
    finished_at: Optional[str] = None
    progress: Optional[EvaluationProgress] = None
    summary: Optional[EvaluationSummary] = None
    pass_at_k: Optional[PassAtK] = None
    candidates: list[CandidateResult] = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def completed(self) -> bool:
        return self.status == "completed"


@dataclass
class Event:
    """One event of GET /v1/evaluations/{id}/events: its type, its id (for resuming) and its JSON data.

    ``stream_evaluation`` yields the subclasses below for the known types, and this
    class for any other.
    """

    event: str
    id: Optional[str]
    data: Any


@dataclass
class CandidateEvent(Event):
    """A candidate finished; ``candidate`` is its result."""

    candidate: CandidateResult = field(default_factory=CandidateResult)


@dataclass
class ProgressEvent(Event):
    """The evaluation's counters changed."""

    progress: EvaluationProgress = field(default_factory=EvaluationProgress)


@dataclass
class SummaryEvent(Event):
    """The last event: the summary and pass@k of the finished evaluation."""

    summary: Optional[EvaluationSummary] = None
    pass_at_k: Optional[PassAtK] = None


def _inner(data: Any, key: str) -> Any:
    """The object under key when data wraps it ({"progress": {...}}), else data itself."""
    if isinstance(data, dict) and isinstance(data.get(key), dict):
        return data[key]
    return data


def make_event(event: str, id: Optional[str], data: Any) -> Event:
    """Type an event by its name; data that is not an object stays a plain Event."""
    if event == "candidate" and isinstance(_inner(data, "candidate"), dict):
        return CandidateEvent(event, id, data, CandidateResult.from_dict(_inner(data, "candidate")))
    if event == "progress" and isinstance(_inner(data, "progress"), dict):
        return ProgressEvent(event, id, data, EvaluationProgress.from_dict(_inner(data, "progress")))
    if event == "summary" and isinstance(data, dict):
        summary = _inner(data, "summary")
        pak = data.get("pass_at_k")
        return SummaryEvent(
            event,
            id,
            data,
            EvaluationSummary.from_dict(summary) if isinstance(summary, dict) else None,
            PassAtK.from_dict(pak) if isinstance(pak, dict) else None,
        )
    return Event(event, id, data)
