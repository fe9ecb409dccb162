"""History charts as plain functions DataFrame → Altair chart (no streamlit, so they test on their own)."""

from __future__ import annotations

from datetime import datetime, timedelta

import altair as alt
import pandas as pd

from runops.colors import OTHER_COLOR, STATE_COLORS
from runops.features.history.buckets import floor_time
from runops.features.history.frame import History
from runops.features.history.timeline import BAR, DUE, INSTANT, Timeline
from runops.timefmt import ensure_utc, format_duration

ROLLING_RUNS = 10  # runs in the rolling median window
LEGEND_PARAM = "deployment_legend"
TIME_FORMAT = "%Y-%m-%d %H:%M"


def state_scale(states: list[str]) -> alt.Scale:
    """Colour each state the way Prefect's UI does; order: Completed first, failures after."""
    order = list(STATE_COLORS)
    domain = sorted(set(states), key=lambda s: (order.index(s) if s in order else len(order), s))
    domain.sort(key=lambda s: 0 if s in ("Completed", "Cached") else 1)
    return alt.Scale(domain=domain, range=[STATE_COLORS.get(s, OTHER_COLOR) for s in domain])


def legend_selection() -> alt.Parameter:
    """Click a deployment in the legend to highlight it (shift-click for more)."""
    return alt.selection_point(name=LEGEND_PARAM, fields=["deployment"], bind="legend")


def deployment_color(columns: int = 2) -> alt.Color:
    """Deployments in distinct categorical colours, the legend below the chart (names are long)."""
    return alt.Color(
        "deployment:N",
        title="Deployment",
        scale=alt.Scale(scheme="tableau10"),
        legend=alt.Legend(orient="bottom", columns=columns, labelLimit=320),
    )


def time_tooltips(field: str, title: str) -> list[alt.Tooltip]:
    """A time in the viewer's own zone (the browser's, as everywhere on the page)."""
    return [alt.Tooltip(f"{field}:T", title=title, format=TIME_FORMAT)]


def duration_unit(seconds: pd.Series) -> tuple[float, str]:
    """(divisor, unit) so the typical duration reads as a small number of s / min / h."""
    typical = seconds.dropna().median() if not seconds.dropna().empty else 0.0
    if typical >= 2 * 3600:
        return 3600.0, "h"
    if typical >= 120:
        return 60.0, "min"
    return 1.0, "s"


def vl_time(value: datetime) -> alt.DateTime:
    """A time as a Vega-Lite UTC DateTime (an unambiguous instant, shown in the viewer's zone)."""
    value = ensure_utc(value)
    return alt.DateTime(
        year=value.year,
        month=value.month,
        date=value.day,
        hours=value.hour,
        minutes=value.minute,
        seconds=value.second,
        milliseconds=value.microsecond // 1000,
        utc=True,
    )


def time_axis(span: timedelta | None) -> alt.Axis:
    """Readable time labels for the window: hours for a day, weekdays for two, dates beyond."""
    if span is None or span <= timedelta(days=1):
        return alt.Axis(format="%H:%M", labelOverlap=True)
    if span <= timedelta(days=3):
        return alt.Axis(format="%a %H:%M", labelOverlap=True)
    if span <= timedelta(days=31):
        step = max(1, span.days // 10)
        return alt.Axis(format="%a %d %b", tickCount={"interval": "day", "step": step}, labelOverlap=True)
    return alt.Axis(format="%d %b", tickCount={"interval": "week", "step": 1}, labelOverlap=True)


def _span(times: pd.Series) -> timedelta | None:
    times = times.dropna()
    return (times.max() - times.min()).to_pytimedelta() if len(times) > 1 else None


def bucket_label(size: timedelta) -> str:
    """ "30 minutes", "3 hours", "1 day": a bucket size in words for chart titles."""
    total = int(size.total_seconds())
    for unit, length in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if total >= length and total % length == 0:
            count = total // length
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return format_duration(size)


def _text_durations(seconds: pd.Series) -> pd.Series:
    return seconds.map(format_duration)


def completions_chart(
    buckets: pd.DataFrame,
    bucket: timedelta,
    by: str = "end time",
    start: datetime | None = None,
    end: datetime | None = None,
) -> alt.Chart:
    """Stacked bars: runs per time bucket and state (Prefect's colours); one bar spans one bucket.

    With `start`/`end` the axis shows the whole window, so quiet stretches show as gaps.
    """
    data = buckets[["bucket_start", "bucket_end", "state", "runs"]].copy()
    scale = alt.Scale(domain=[vl_time(start), vl_time(end)]) if start and end else alt.Undefined
    span = (end - start) if start and end else _span(data["bucket_start"])
    return (
        alt.Chart(data, title=f"Runs per {bucket_label(bucket)} (by {by})")
        .mark_bar(stroke="white", strokeWidth=0.5)
        .encode(
            x=alt.X("bucket_start:T", title=None, scale=scale, axis=time_axis(span)),
            x2="bucket_end:T",
            y=alt.Y("sum(runs):Q", title="Runs", stack="zero", axis=alt.Axis(tickMinStep=1, format="d")),
            color=alt.Color("state:N", title="State", scale=state_scale(list(data["state"]))),
            tooltip=[
                *time_tooltips("bucket_start", "From"),
                alt.Tooltip("bucket_end:T", title="To", format=TIME_FORMAT),
                alt.Tooltip("state:N", title="State"),
                alt.Tooltip("sum(runs):Q", title="Runs"),
            ],
        )
    )


def with_rolling_median(runs: pd.DataFrame, window: int = ROLLING_RUNS) -> pd.DataFrame:
    """Completed runs oldest first, with the median duration of each deployment's last `window` runs."""
    done = runs[(runs["state_type"] == "COMPLETED") & runs["duration_s"].notna()]
    done = done.sort_values(["deployment", "end"], kind="stable")
    rolling = done.groupby("deployment", sort=False)["duration_s"].transform(
        lambda s: s.rolling(window, min_periods=1).median()
    )
    return done.assign(rolling_median_s=rolling)


def duration_chart(runs: pd.DataFrame, window: int = ROLLING_RUNS) -> alt.LayerChart:
    """Each completed run's duration over its end time, plus a rolling median line per deployment."""
    done = with_rolling_median(runs, window)
    divisor, unit = duration_unit(done["duration_s"])
    data = pd.DataFrame(
        {
            "name": done["name"],
            "deployment": done["deployment"],
            "end": done["end"],
            "duration": done["duration_s"] / divisor,
            "rolling_median": done["rolling_median_s"] / divisor,
            "duration_text": _text_durations(done["duration_s"]),
            "rolling_median_text": _text_durations(done["rolling_median_s"]),
        }
    )
    legend = legend_selection()
    base = alt.Chart(data).encode(
        x=alt.X("end:T", title="Ended", axis=time_axis(_span(data["end"]))),
        color=deployment_color(),
        opacity=alt.condition(legend, alt.value(0.9), alt.value(0.1)),
    )
    points = (
        base.mark_circle(size=36)
        .encode(
            y=alt.Y("duration:Q", title=f"Duration ({unit})"),
            tooltip=[
                alt.Tooltip("name:N", title="Run"),
                alt.Tooltip("deployment:N", title="Deployment"),
                *time_tooltips("end", "Ended"),
                alt.Tooltip("duration_text:N", title="Duration"),
                alt.Tooltip("rolling_median_text:N", title="Rolling median"),
            ],
        )
        .add_params(legend)
    )
    line = base.mark_line(strokeWidth=2).encode(
        y=alt.Y("rolling_median:Q"),
        tooltip=[
            alt.Tooltip("deployment:N", title="Deployment"),
            alt.Tooltip("rolling_median_text:N", title="Rolling median"),
        ],
    )
    return alt.layer(points, line, title=f"Duration over time (line: rolling median of {window} runs)")


def distribution_chart(runs: pd.DataFrame) -> alt.LayerChart:
    """Duration distribution per deployment: a box plot with every completed run as a tick."""
    done = runs[(runs["state_type"] == "COMPLETED") & runs["duration_s"].notna()]
    divisor, unit = duration_unit(done["duration_s"])
    data = pd.DataFrame(
        {
            "name": done["name"],
            "deployment": done["deployment"],
            "duration": done["duration_s"] / divisor,
            "duration_text": _text_durations(done["duration_s"]),
        }
    )
    legend = legend_selection()
    y = alt.Y("deployment:N", title=None, axis=alt.Axis(labelLimit=260))
    color = deployment_color(columns=1)  # drawn in a half-width column
    x = alt.X("duration:Q", title=f"Duration ({unit})")
    box = (
        alt.Chart(data)
        .mark_boxplot(extent=1.5, size=22, outliers=False)
        .encode(x=x, y=y, color=color, opacity=alt.condition(legend, alt.value(0.55), alt.value(0.08)))
    )
    ticks = (
        alt.Chart(data)
        .mark_tick(thickness=1.5, size=18)
        .encode(
            x=x,
            y=y,
            color=color,
            opacity=alt.condition(legend, alt.value(0.8), alt.value(0.05)),
            tooltip=[
                alt.Tooltip("name:N", title="Run"),
                alt.Tooltip("deployment:N", title="Deployment"),
                alt.Tooltip("duration_text:N", title="Duration"),
            ],
        )
        # on the simple tick layer: the box plot expands into several marks, and a parameter
        # there is declared once per mark ("Duplicate signal name" in the browser)
        .add_params(legend)
    )
    # a step per deployment: Streamlit's theme squeezes a fixed height on a discrete axis
    return alt.layer(box, ticks, title="Duration distribution per deployment").properties(height=alt.Step(44))


def lateness_percentiles(runs: pd.DataFrame, bucket: timedelta) -> pd.DataFrame:
    """p50 and p95 start lateness per bucket of expected start time (long form: one row each)."""
    late = runs[runs["lateness_s"].notna() & runs["expected_start"].notna()]
    columns = ["bucket_start", "percentile", "lateness_s", "runs"]
    if late.empty:
        return pd.DataFrame({c: [] for c in columns})
    origin = pd.Timestamp(floor_time(late["expected_start"].min(), bucket))
    step = pd.Timedelta(bucket)
    starts = origin + ((late["expected_start"] - origin) // step) * step
    grouped = late.assign(bucket_start=starts).groupby("bucket_start")["lateness_s"]
    stats = pd.DataFrame(
        {"p50": grouped.quantile(0.5), "p95": grouped.quantile(0.95), "runs": grouped.size()}
    ).reset_index()
    long = stats.melt(
        id_vars=["bucket_start", "runs"],
        value_vars=["p50", "p95"],
        var_name="percentile",
        value_name="lateness_s",
    )
    return long[columns].sort_values(["percentile", "bucket_start"], ignore_index=True)


def lateness_chart(runs: pd.DataFrame, bucket: timedelta) -> alt.Chart:
    """Start lateness (start − expected start) p50 and p95 per bucket, as two lines."""
    data = lateness_percentiles(runs, bucket)
    divisor, unit = duration_unit(data["lateness_s"]) if not data.empty else (1.0, "s")
    data = data.assign(
        lateness=data["lateness_s"] / divisor, lateness_text=_text_durations(data["lateness_s"])
    )
    return (
        alt.Chart(data, title=f"Start lateness p50 / p95 per {bucket_label(bucket)}")
        .mark_line(point=True)
        .encode(
            x=alt.X("bucket_start:T", title="Scheduled start", axis=time_axis(_span(data["bucket_start"]))),
            y=alt.Y("lateness:Q", title=f"Lateness ({unit})"),
            color=alt.Color(
                "percentile:N",
                title="Percentile",
                scale=alt.Scale(domain=["p50", "p95"], range=["#1860F2", "#FB4E4E"]),
            ),
            tooltip=[
                *time_tooltips("bucket_start", "Bucket from"),
                alt.Tooltip("percentile:N", title="Percentile"),
                alt.Tooltip("lateness_text:N", title="Lateness"),
                alt.Tooltip("runs:Q", title="Runs in bucket"),
            ],
        )
    )


def history_charts(result: History) -> list[alt.TopLevelMixin]:
    """The History page's four charts, in order (the page and the benchmark both use this)."""
    by = "scheduled start, all matching runs" if result.buckets_from_server else "end time"
    return [
        completions_chart(result.buckets, result.bucket, by, result.window_start, result.window_end),
        duration_chart(result.runs),
        distribution_chart(result.runs),
        lateness_chart(result.runs, result.bucket),
    ]


TIMELINE_BRUSH = "timeline_brush"  # the interval selection's name: the page reads it from the event
TIMELINE_ROW = 30  # px per deployment row


def timeline_chart(timeline: Timeline) -> alt.LayerChart:
    """One row per deployment: a bar per run from start to end (running: to now) in its state's
    colour, hollow marks for runs due (Scheduled, Late), a dashed rule at now; drag to choose runs."""
    data = timeline.runs.drop(columns=["url"]).assign(
        duration_text=[
            format_duration((f - b).total_seconds()) if k == BAR else "—"
            for k, b, f in zip(
                timeline.runs["kind"], timeline.runs["begin"], timeline.runs["finish"], strict=True
            )
        ]
    )
    rows = sorted(set(data["deployment"]))
    x = alt.X(
        "begin:T",
        title=None,
        scale=alt.Scale(domain=[vl_time(timeline.start), vl_time(timeline.end)]),
        axis=time_axis(timeline.end - timeline.start),
    )
    y = alt.Y("deployment:N", title=None, scale=alt.Scale(domain=rows), axis=alt.Axis(labelLimit=260))
    color = alt.Color(
        "state:N",
        title="State",
        scale=state_scale(list(data["state"])),
        legend=alt.Legend(orient="bottom", columns=8),
    )
    tooltip = [
        alt.Tooltip("name:N", title="Run"),
        alt.Tooltip("deployment:N", title="Deployment"),
        alt.Tooltip("state:N", title="State"),
        alt.Tooltip("scheduled:T", title="Scheduled", format=TIME_FORMAT),
        alt.Tooltip("begin:T", title="Started (or due)", format=TIME_FORMAT),
        alt.Tooltip("finish:T", title="Ended (or now)", format=TIME_FORMAT),
        alt.Tooltip("duration_text:N", title="Duration"),
    ]
    # In Chromium the brush's event is {"begin": [from, to] (epoch ms), "deployment": [every row
    # it overlaps, even in part]}: chosen_runs maps that back to runs. Drawn in Prefect's blue, so
    # a brush over the whole plot reads as chosen, not as a grey background.
    brush = alt.selection_interval(
        name=TIMELINE_BRUSH,
        encodings=["x", "y"],
        mark=alt.BrushConfig(fill="#1860F2", fillOpacity=0.08, stroke="#1860F2", strokeOpacity=0.6),
    )
    base = alt.Chart(data).encode(x=x, y=y, color=color, tooltip=tooltip)
    bars = (
        base.transform_filter(alt.datum.kind == BAR)
        .mark_bar(height={"band": 0.6}, cornerRadius=2)
        .encode(x2="drawn_finish:T")
        .add_params(brush)
    )
    due = base.transform_filter(alt.datum.kind == DUE).mark_point(
        shape="circle", filled=False, size=70, strokeWidth=2
    )
    ended = base.transform_filter(alt.datum.kind == INSTANT).mark_point(shape="diamond", filled=True, size=50)
    now = (
        alt.Chart(pd.DataFrame({"begin": [pd.Timestamp(timeline.now)]}))
        .mark_rule(color="#52525B", strokeDash=[4, 4])
        .encode(x=alt.X("begin:T"), tooltip=[alt.Tooltip("begin:T", title="Now", format=TIME_FORMAT)])
    )
    return alt.layer(bars, due, ended, now, title="Timeline (drag over runs to act on them)").properties(
        height=alt.Step(TIMELINE_ROW)
    )
