"""Filters in the URL: a widget starts from its query parameter, and its value is written back."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from runops.errors import RunopsError
from runops.timefmt import parse_duration, parse_time
from ui.context import timezone
from ui.fmt import inert
from ui.state import widget_key

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


class BadParam(ValueError):
    """A query parameter that cannot be a filter's value; its text says why, in words."""


@dataclass(frozen=True)
class Kind:
    """How one widget's value travels: `read` the parameter's values (raises BadParam), `write` a
    value as the parameter's values."""

    read: Callable[[list[str]], Any]
    write: Callable[[Any], list[str]]


def _single(values: list[str]) -> str:
    if len(values) > 1:
        raise BadParam("given more than once")
    return values[0]


def _lookup(options: Sequence[str], noun: str) -> Callable[[str], str]:
    exact = {str(option): option for option in options}
    folded = {str(option).lower(): option for option in options}

    def find(value: str) -> str:
        # exact first: two names that differ only in case stay apart; `state=late` still works
        found = exact.get(value, folded.get(value.lower()))
        if found is None:
            raise BadParam(f"no {noun} named “{value}”")
        return found

    return find


def many_of(options: Sequence[str], noun: str) -> Kind:
    """A multiselect: one repeated parameter, every value one of `options`."""
    find = _lookup(options, noun)
    return Kind(lambda values: list(dict.fromkeys(find(v) for v in values)), lambda value: list(value))


def one_of(options: Sequence[str], noun: str) -> Kind:
    """A radio or selectbox."""
    find = _lookup(options, noun)
    return Kind(lambda values: find(_single(values)), lambda value: [str(value)])


def coded(codes: Mapping[str, Any], noun: str) -> Kind:
    """A radio or selectbox whose options read long ("Last 30 days"): the link says the code ("30")."""
    find = _lookup(list(codes), noun)
    back = {value: code for code, value in codes.items()}
    return Kind(lambda values: codes[find(_single(values))], lambda value: [back[value]])


def text(check: Callable[[str], object] | None = None) -> Kind:
    """A text input; `check` raises RunopsError on a value the page would refuse."""

    def read(values: list[str]) -> str:
        value = _single(values).strip()
        if check is not None:
            try:
                check(value)
            except RunopsError as exc:
                raise BadParam(str(exc)) from None
        return value

    # an emptied box is written as `param=`: the default would come back from the link otherwise
    return Kind(read, lambda value: [str(value)])


def duration() -> Kind:
    """A text input holding a duration: 6h, 90m, 2d."""
    return text(parse_duration)


def moment(optional: bool = False) -> Kind:
    """A text input holding a time: now-6h, 10:00, 2026-11-27 10:00 (the viewer's zone)."""
    return text(lambda value: None if optional and not value else parse_time(value, zone=timezone().key))


def number(minimum: float | None = None, maximum: float | None = None, whole: bool = False) -> Kind:
    """A number input."""

    def read(values: list[str]) -> float | int:
        raw = _single(values).strip()
        try:
            value: float | int = int(raw) if whole else float(raw)
        except ValueError:
            raise BadParam(f"“{raw}” is not a {'whole ' if whole else ''}number") from None
        if (
            value != value
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)
        ):
            bounds = f"from {minimum:g}" if minimum is not None else ""
            bounds += f" to {maximum:g}" if maximum is not None else ""
            raise BadParam(f"{raw} is out of range ({bounds.strip()})")
        return value

    return Kind(read, lambda value: [f"{value:g}" if isinstance(value, float) else str(value)])


def flag() -> Kind:
    """A checkbox: 1 or 0 (true/false, yes/no)."""

    def read(values: list[str]) -> bool:
        raw = _single(values).strip().lower()
        if raw not in TRUE + FALSE:
            raise BadParam(f"“{raw}” is not 1 or 0")
        return raw in TRUE

    return Kind(read, lambda value: ["1" if value else "0"])


def tag_list() -> Kind:
    """The tags text input ("nightly, team-a") as a repeated parameter: `tag=nightly&tag=team-a`."""

    def read(values: list[str]) -> str:
        tags = [t.strip() for value in values for t in value.split(",") if t.strip()]
        return ", ".join(tags)

    return Kind(read, lambda value: [t.strip() for t in str(value).split(",") if t.strip()])


def bind(page: str, name: str, param: str, default: Any, kind: Kind) -> Any:
    """The initial value for the widget `<page>.<name>` (pass it as its value/default), and the
    widget's current value written to the URL as `param`.

    A widget without state yet (a new session, or the page opened again) starts from the URL; a
    value the page would refuse (an unknown name, a malformed number) is ignored with a warning
    naming the parameter. After that the widget is the truth and the URL follows it; a value equal
    to the default is left out of the URL so links stay short."""
    key = widget_key(page, name)
    initial_key, warning_key = f"{key}.url_initial", f"{key}.url_warning"
    if key in st.session_state:
        value = st.session_state[key]
        # the same initial value on every run: a changed default could reset the widget
        initial = st.session_state.get(initial_key, default)
        if value != initial:  # the user chose: the link's complaint is answered
            st.session_state.pop(warning_key, None)
    else:
        initial = default
        st.session_state.pop(warning_key, None)
        given = st.query_params.get_all(param)
        if given:
            try:
                initial = kind.read(given)
            except BadParam as exc:
                # the value is in the reason, escaped: a code span would show the escapes
                reason = inert(str(exc).rstrip("."))
                st.session_state[warning_key] = (
                    f"This link's `{param}` parameter is ignored: {reason}. The filter shows its default."
                )
        st.session_state[initial_key] = value = initial
    write(param, [] if value == default else kind.write(value))
    warning = st.session_state.get(warning_key)
    if warning:
        st.warning(warning, icon=":material/link_off:")
    return initial


def write(param: str, values: list[str]) -> None:
    """Set `param` to `values` (repeated when several; removed when none), only if it differs:
    each write is a message to the browser."""
    if st.query_params.get_all(param) == values:
        return
    if not values:
        del st.query_params[param]
    else:
        st.query_params[param] = values if len(values) > 1 else values[0]


def drop(*params: str) -> None:
    """Parameters of widgets this run does not show (another policy's inputs): out of the URL."""
    for param in params:
        write(param, [])


def view_link() -> str:
    """This page's URL with its filters (and `?job=` when one is shown)."""
    pairs = [(name, value) for name in st.query_params for value in st.query_params.get_all(name)]
    try:
        base = st.context.url or ""
    except Exception:  # no browser behind this run (AppTest)
        base = ""
    return base + ("?" + urlencode(pairs) if pairs else "")


def link_to_view() -> None:
    """A small "Link to this view" affordance: the URL to paste to a colleague."""
    with st.popover("Link to this view", icon=":material/link:"):
        st.caption("Opens this page with the same filters (the address bar holds the same link).")
        st.code(view_link(), language=None)


def page_url(path: str, params: Mapping[str, str | Sequence[str]] | None = None) -> str:
    """A link to another page with its filters set, relative (`late_runs?deployment=etl%2Fnightly`)
    so it works behind any host name and base path; `path` is the page's file, `pages/late_runs.py`."""
    query_string = urlencode(dict(params or {}), doseq=True)
    return PurePosixPath(path).stem + (f"?{query_string}" if query_string else "")
