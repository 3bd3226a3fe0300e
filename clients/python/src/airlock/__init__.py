"""Airlock's Python SDK: run untrusted code and evaluate code models through the Airlock HTTP API.

    import airlock
    client = airlock.Client()  # $AIRLOCK_URL (default http://127.0.0.1:8080), $AIRLOCK_API_KEY
    result = client.execute("python", {"main.py": "print(input())"}, stdin="hi")
    print(result.verdict, result.run.stdout)

``AsyncClient`` has the same methods as coroutines. Only the standard library is used.
"""

from ._async import AsyncClient
from ._core import VERSION as __version__
from ._core import RetryPolicy, request
from ._errors import (
    AirlockError,
    APIError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
    UnprocessableError,
    WaitTimeout,
)
from ._sync import Client
from ._types import (
    BatchEntry,
    CandidateEvent,
    CandidateRef,
    CandidateResult,
    ErrorDetail,
    Evaluation,
    EvaluationAccepted,
    EvaluationProgress,
    EvaluationSummary,
    Event,
    Execution,
    ExecutionOrError,
    Limits,
    OutputFile,
    PassAtK,
    PassAtKEstimate,
    ProblemCount,
    ProgressEvent,
    Runtime,
    Stage,
    Submission,
    SummaryEvent,
    TestResult,
)

__all__ = [
    "APIError",
    "AirlockError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "BatchEntry",
    "CandidateEvent",
    "CandidateRef",
    "CandidateResult",
    "Client",
    "ErrorDetail",
    "Evaluation",
    "EvaluationAccepted",
    "EvaluationProgress",
    "EvaluationSummary",
    "Event",
    "Execution",
    "ExecutionOrError",
    "Limits",
    "NotFoundError",
    "OutputFile",
    "PassAtK",
    "PassAtKEstimate",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProblemCount",
    "ProgressEvent",
    "RateLimitError",
    "RetryPolicy",
    "Runtime",
    "ServerError",
    "Stage",
    "Submission",
    "SummaryEvent",
    "TestResult",
    "TransportError",
    "UnprocessableError",
    "WaitTimeout",
    "request",
]
