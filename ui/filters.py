"""The run filters the selecting pages share: deployments, flows, work pools and tags, in one row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from ui import query
from ui.state import widget_key


@dataclass(frozen=True)
class RunFilters:
    deployments: list[str]
    flows: list[str]
    pools: list[str]
    tags: str  # as typed: "nightly, team-a" (the service layer splits and checks it)


def run_filters(
    page: str,
    options: Any,
    on_change: Callable[[], None] | None = None,
    tags_hint: str = "e.g. nightly",
    tags_label: str = "Tags (all of them)",
) -> RunFilters:
    """`options`: the server's deployments, flows and work pools (`selection.filter_options`).
    Each filter is also a URL parameter: `deployment`, `flow`, `pool` (repeated) and `tag`."""
    initial = {
        "deployments": query.bind(
            page, "deployments", "deployment", [], query.many_of(options.deployments, "deployment")
        ),
        "flows": query.bind(page, "flows", "flow", [], query.many_of(options.flows, "flow")),
        "pools": query.bind(page, "pools", "pool", [], query.many_of(options.work_pools, "work pool")),
        "tags": query.bind(page, "tags", "tag", "", query.tag_list()),
    }
    c1, c2, c3, c4 = st.columns(4)
    deployments = c1.multiselect(
        "Deployments",
        options.deployments,
        default=initial["deployments"],
        key=widget_key(page, "deployments"),
        on_change=on_change,
        placeholder="any",
    )
    flows = c2.multiselect(
        "Flows",
        options.flows,
        default=initial["flows"],
        key=widget_key(page, "flows"),
        on_change=on_change,
        placeholder="any",
    )
    pools = c3.multiselect(
        "Work pools",
        options.work_pools,
        default=initial["pools"],
        key=widget_key(page, "pools"),
        on_change=on_change,
        placeholder="any",
    )
    tags = c4.text_input(
        tags_label,
        value=initial["tags"],
        key=widget_key(page, "tags"),
        on_change=on_change,
        placeholder=tags_hint,
    )
    return RunFilters(deployments, flows, pools, tags)
