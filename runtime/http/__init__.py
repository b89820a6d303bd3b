"""HTTP side of the runtime: problem+json errors, the REST client base."""

from runtime.http.client import RestClient
from runtime.http.problem import PROBLEM_JSON, Problem, ProblemError, problem_responses

__all__ = ["PROBLEM_JSON", "Problem", "ProblemError", "RestClient", "problem_responses"]
