"""AppTest of the Activity page: jobs recorded by real applies, running ones on top, a job's own page."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from prefect.states import Late, Running, Scheduled

from runops.engine import jobs
from runops.engine.execute import execute
from runops.features import late
from runops.settings import Settings
from runops.store import default_store
from runops.store.jobs import INTERRUPTED
from tests.apptest import finish_job, metric_value, open_app
from tests.factories import Prefect, ago, later
from tests.runops.engine.test_execute import _plan, move_to


def test_activity_lists_jobs_and_opens_one(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    runs = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=1)) for _ in range(3)])
    store = default_store(Settings.from_env().home)
    report = prefect.run(
        execute,
        _plan(runs, later(hours=4) + timedelta(minutes=1)),
        move_to,
        actor="ana@example.com",
        store=store,
        reason="INC-7 move",
    )

    at = open_app("app.py")
    at.switch_page("pages/activity.py").run()
    assert not at.exception, at.exception
    assert "No job is running." in [c.value for c in at.caption]
    listed = at.dataframe[0].value
    assert list(listed["Who"]) == ["ana@example.com"] and list(listed["Status"]) == ["done"]
    assert int(listed["Done"].iloc[0]) == 3 and list(listed["Reason"]) == ["INC-7 move"]
    assert listed["Job"].iloc[0] == f"/activity?job={report.job_id}"

    at.query_params["job"] = report.job_id
    at.run()
    assert not at.exception, at.exception
    assert metric_value(at, "Done") == 3
    detail = at.dataframe[0].value
    assert list(detail.columns[:2]) == ["Outcome", "Run"]  # outcome first
    assert set(detail["Outcome"]) == {"done"} and set(detail["Run"]) == {r.name for r in runs}
    assert all(str(link).endswith(str(r.id)) for link, r in zip(detail["Link"], runs, strict=True))


def test_a_running_job_is_on_top_and_an_interrupted_one_offers_resume(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    prefect.late_runs(deployment, 2)
    store = default_store(Settings.from_env().home)
    plan = prefect.run(late.plan_reschedule, late.RescheduleRequest((deployment.full_name,), delay="2d"))
    job = jobs.submit(store, plan, actor="ana@example.com")  # recorded, owned by this live process

    at = open_app("app.py", context={"timezone": "Europe/Berlin"})
    at.switch_page("pages/activity.py").run()
    assert not at.exception, at.exception
    assert "Running now (1)" in [s.value for s in at.subheader]

    store.jobs.finish(job.job_id, job.owner, INTERRUPTED, duration_s=0.1, concurrency=None)
    at.query_params["job"] = job.job_id
    at.run()
    assert not at.exception, at.exception
    assert metric_value(at, "Not attempted") == 2
    assert at.button(key=f"job.{job.job_id}.resume").label == "Resume: 2 run(s) not done"
    # the viewer's zone, named once on the page; the table's times are in it
    assert "Times in Europe/Berlin, your browser's time zone." in [c.value for c in at.caption]
    item = plan.items[0]  # the table lists the job's runs in the plan's order
    shown = at.dataframe[0].value["Scheduled for"].iloc[0]
    assert shown == item.scheduled_time.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d %H:%M")


def test_activity_empty_and_an_unknown_job(tmp_home) -> None:
    at = open_app("app.py")
    at.switch_page("pages/activity.py").run()
    assert not at.exception
    assert "No jobs yet" in at.info[0].value
    at.query_params["job"] = "not-a-job"
    at.run()
    assert "not a job id" in at.error[0].value


def test_undo_from_a_jobs_page_previews_confirms_and_puts_the_runs_back(prefect: Prefect, tmp_home) -> None:
    deployment = prefect.deployment()
    runs = prefect.runs(deployment, [Late(scheduled_time=ago(minutes=10 * (i + 1))) for i in range(3)])
    store = default_store(Settings.from_env().home)
    plan = prefect.run(late.plan_reschedule, late.RescheduleRequest((deployment.full_name,), delay="6h"))
    moved = prefect.run(late.apply_reschedule, plan, actor="ana@example.com", store=store)
    prefect.set_state(runs[0].id, Running())  # started since: the undo leaves it

    at = open_app("app.py")
    at.switch_page("pages/activity.py")
    at.query_params["job"] = moved.job_id
    at.run()
    assert not at.exception, at.exception
    at.button(key=f"job.{moved.job_id}.undo").click().run()
    assert not at.exception, at.exception
    assert "Undo preview" in [s.value for s in at.subheader]
    assert metric_value(at, "Undo") == 2 and metric_value(at, "Left as they are") == 1
    preview = at.dataframe[1].value
    assert set(preview["Action"]) == {"move back", "skip"}
    at.button(key="undo.open").click().run()
    at.button(key="undo.confirm").click().run()
    assert not at.exception, at.exception
    undo_id = finish_job(at, "undo")
    assert at.query_params["job"] == [undo_id] or at.query_params["job"] == undo_id
    assert metric_value(at, "Done") == 2
    assert "This job is an undo; an undo cannot be undone." in [c.value for c in at.caption]
    assert not [b for b in at.button if b.key == f"job.{undo_id}.undo"]

    now = prefect.read_many([r.id for r in runs])
    assert now[runs[0].id].state_name == "Running"
    for run in runs[1:]:
        back = now[run.id]
        assert back.state_type.value == "SCHEDULED"
        assert abs(back.next_scheduled_start_time - run.next_scheduled_start_time) <= timedelta(seconds=1)
