"""Names in a selection: unknown ones are refused with suggestions that are really close."""

from __future__ import annotations

import pytest

from runops.engine.names import close_names
from runops.engine.selection import resolve_deployments
from runops.errors import BadInput
from tests.factories import Prefect, unique

KNOWN = [
    "billing/monthly-invoices",
    "etl-daily/hourly-sync",
    "flow-0c1d2e3f/deploy-4a5b6c7d",  # names made from one template: alike, not close
    "flow-1a2b3c4d/deploy-5e6f7a8b",
    "ml-training/retrain-models",
    "reports/daily-summary",
]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("etl-daily/hourly-snyc", ["etl-daily/hourly-sync"]),  # a typo
        ("etl-dialy/hourly-sync", ["etl-daily/hourly-sync"]),  # a typo in the flow
        ("hourly-sync", ["etl-daily/hourly-sync"]),  # the deployment without its flow
        ("reports/weekly-summary", ["reports/daily-summary"]),  # the same flow
        ("billing", ["billing/monthly-invoices"]),  # a flow: its deployments
        ("flow-1a2b3c4d/deploy-5e6f7a8c", ["flow-1a2b3c4d/deploy-5e6f7a8b"]),
        ("flow-9f8e7d6c/deploy-5e6f7a8b", ["flow-1a2b3c4d/deploy-5e6f7a8b"]),
        ("no-such-deployment", []),  # shares "deploy" with a name, nothing more
        ("etl/daily-report", []),  # shares words with two names, close to neither
        ("x", []),
    ],
)
def test_deployment_suggestions_are_close_names_only(typed: str, expected: list[str]) -> None:
    assert close_names("deployment", typed, KNOWN) == expected


def test_work_pool_suggestions_are_close_names_only() -> None:
    pools = ["default-agent-pool", "k8s-prod", "process-pool"]
    assert close_names("work pool", "k8s-prd", pools) == ["k8s-prod"]
    assert close_names("work pool", "no-such-pool", pools) == []


def test_unknown_deployment_on_the_server(prefect: Prefect) -> None:
    flow = unique("invoices")
    deployment = prefect.deployment(flow=flow, name="monthly-close")
    typo = f"{flow}/monthly-clsoe"
    with pytest.raises(BadInput, match="Unknown deployment") as caught:
        prefect.run(resolve_deployments, [typo])
    assert f"Did you mean '{deployment.full_name}'?" in str(caught.value)

    with pytest.raises(BadInput, match="Unknown deployment") as caught:
        prefect.run(resolve_deployments, [unique("zz-nothing-like-it")])
    assert deployment.full_name not in str(caught.value)
