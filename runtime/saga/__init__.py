"""Orchestrated sagas: persisted state with a deadline per step, and a timeout scanner."""

from runtime.saga.base import SagaState, SagaStore, TimeoutHandler, scan_deadlines

__all__ = ["SagaState", "SagaStore", "TimeoutHandler", "scan_deadlines"]
