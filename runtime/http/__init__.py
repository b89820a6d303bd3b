"""HTTP side of the runtime: problem+json errors, the REST client base."""

from runtime.http.app import CORRELATION_HEADER, create_app
from runtime.http.client import RestClient
from runtime.http.problem import PROBLEM_JSON, Problem, ProblemError, problem_responses

__all__ = [
    "CORRELATION_HEADER",
    "PROBLEM_JSON",
    "Problem",
    "ProblemError",
    "RestClient",
    "create_app",
    "problem_responses",
]
