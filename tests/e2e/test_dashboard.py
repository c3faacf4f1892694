"""The coverage dashboard and a researcher's campaign page in a real browser, on the demo."""

from __future__ import annotations

import zipfile

import pytest
from django.core.cache import cache

from collection.demo import DEMO_PASSWORD, demo_load
from tests.helpers import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AUDIENCES = ["Everyone", "UK adults", "Ward 7 nursing team", "Alex's assistant"]
# A function, not an expression: Playwright evals expressions, which the CSP refuses.
ALL_IMAGES_LOADED = (
    "() => Array.from(document.images).every(image => image.complete && image.naturalWidth > 0)"
)


def log_in(page, live_server, username: str, next_url: str) -> None:
    page.goto(f"{live_server.url}/login/?next={next_url}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def load_every_chart(page) -> None:
    """Charts load lazily; a full-page screenshot wants all of them."""
    page.evaluate("document.querySelectorAll('img').forEach(image => image.loading = 'eager')")
    page.wait_for_function(ALL_IMAGES_LOADED)
    alts = page.eval_on_selector_all("img", "images => images.map(image => image.alt)")
    assert alts and all(len(alt) > 40 for alt in alts)


def shoot(target, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_admin_dashboard_and_researcher_campaign_page_on_the_demo(
    page, live_server, screenshot, settings, tmp_path, monkeypatch
):
    settings.RELEASES_ROOT = tmp_path / "releases"
    cache.clear()
    demo_load()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))

    log_in(page, live_server, "admin", "/dashboard/")
    page.get_by_role("heading", name="Coverage dashboard", level=1).wait_for()
    load_every_chart(page)
    pairs = page.locator("section.board", has=page.locator("#board-everyday-advice-pairs"))
    progress = pairs.get_by_role("table", name="Progress per audience of Everyday advice")
    for name in AUDIENCES:
        assert progress.get_by_role("rowheader", name=name).is_visible()
    strata = pairs.get_by_role("table", name="Observed and target shares · UK adults")
    assert strata.get_by_role("cell", name="under-covered").count() >= 1
    assert page.get_by_role("table", name="Open alerts").locator("tbody tr").count() >= 1
    screenshot("dashboard")
    shoot(page, "dashboard-top")
    shoot(pairs, "dashboard-pairs-campaign")
    pairs.locator("details").first.locator("summary").click()
    shoot(
        pairs.get_by_role("table", name="Responses per day of Everyday advice"),
        "dashboard-daily-table",
    )

    # The researcher: their campaigns, then one campaign's page; not the dashboard.
    page.context.clear_cookies()
    log_in(page, live_server, "researcher", "/campaigns/")
    page.get_by_role("heading", name="Your campaigns").wait_for()
    shoot(page, "campaign-list")
    page.get_by_role("link", name="Everyday advice: which answer is better?").click()
    page.get_by_role("heading", name="Everyday advice: which answer is better?", level=1).wait_for()
    load_every_chart(page)
    assert page.get_by_role("button", name="Build a new release").is_visible()
    assert page.get_by_role("heading", name="Releases").is_visible()
    for name in AUDIENCES:
        assert page.get_by_role("rowheader", name=name).first.is_visible()
    dominant = page.get_by_role("table", name="Annotators above the dominance limit")
    if dominant.count():
        assert "sim-" not in dominant.inner_text()  # participant numbers, not usernames
    screenshot("campaign-page")
    shoot(page, "campaign-page-top")

    # The release button builds one (tasks run in-process here); the history lists it.
    page.get_by_role("button", name="Build a new release").click()
    page.get_by_role("heading", name="Published releases").wait_for()
    # ... and what the researcher downloads loads with `datasets`, every config of it.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download all").first.click()
    archive = tmp_path / download.value.suggested_filename
    download.value.save_as(archive)
    assert archive.name == "everyday-advice-pairs-v1.zip"
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(tmp_path / "downloaded")
    folder = tmp_path / "downloaded" / "everyday-advice-pairs-v1"
    header = (folder / "README.md").read_text().split("---")[1]
    configs = [line.split('"')[1] for line in header.splitlines() if "config_name" in line]
    assert "everyone-preferences" in configs
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    for name in configs:
        splits = datasets.load_dataset(str(folder), name=name, cache_dir=str(tmp_path / "hf"))
        assert splits and all(len(rows) > 0 for rows in splits.values()), name
    pairs = datasets.load_dataset(
        str(folder), name="everyone-preferences", cache_dir=str(tmp_path / "hf")
    )["train"]
    assert {"prompt", "chosen", "rejected"} <= set(pairs.column_names)
    page.goto(f"{live_server.url}/campaigns/everyday-advice-pairs/#releases")
    history = page.get_by_role("table", name="Release history")
    assert "Succeeded" in history.inner_text()
    assert history.get_by_role("link", name="everyday-advice-pairs-v1.zip").is_visible()
    shoot(
        page.locator("section", has=page.get_by_role("heading", name="Releases")),
        "campaign-releases",
    )
    assert not errors, errors
    response = page.goto(f"{live_server.url}/dashboard/")
    assert response.status == 403
