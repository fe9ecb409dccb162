"""Retry failed runs: put Failed/Crashed (optionally Cancelled) runs back to Scheduled in place."""

from __future__ import annotations

from runops.features.retry.apply import (
    RETRIED_TYPES,
    RETRY_KIND,
    RetryBatch,
    apply_retry,
    batch_key,
    check_plan,
    judge,
    propose_retry,
    retry_batches,
    transition_id,
)
from runops.features.retry.plan import (
    DEFAULT_STATES,
    DEFAULT_WINDOW,
    DEPLOYMENT_GONE,
    MAX_RUNS,
    NEWER_RETRIED,
    NO_DEPLOYMENT,
    PLAN_ACTION,
    RETRY,
    RETRYABLE,
    RetryRequest,
    count_matching,
    ended_times,
    plan_retry,
    summary,
)

__all__ = [
    "DEFAULT_STATES",
    "DEFAULT_WINDOW",
    "DEPLOYMENT_GONE",
    "MAX_RUNS",
    "NEWER_RETRIED",
    "NO_DEPLOYMENT",
    "PLAN_ACTION",
    "RETRIED_TYPES",
    "RETRY",
    "RETRYABLE",
    "RETRY_KIND",
    "RetryBatch",
    "RetryRequest",
    "apply_retry",
    "batch_key",
    "check_plan",
    "count_matching",
    "ended_times",
    "judge",
    "plan_retry",
    "propose_retry",
    "retry_batches",
    "summary",
    "transition_id",
]
