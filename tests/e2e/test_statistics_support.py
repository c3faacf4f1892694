"""On the demo, in Chromium: the Ward 7 group's α, which rests on two items judged twice,
reads "too few overlapping judgements" on the dashboard, the campaign page and the card
of a release built from that page, while the audiences with enough overlap show α with
its interval and support. Screenshots at 1280 and 390 px go to SHOTS."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from django.core.cache import cache

from collection.demo import demo_load
from tests.e2e.test_dashboard import load_every_chart, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/work/wt/shots/stats")
WARD = "[data-audience='ward-7-nurses']"
EVERYONE = "[data-audience='everyone']"
CAMPAIGN = "everyday-advice-pairs"


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def agreement_rows(page, slug: str):
    board = page.locator("section.board", has=page.locator(f"#board-{slug}"))
    table = board.locator("table[data-table='agreement']")
    return table.locator(f"tr{WARD}"), table.locator(f"tr{EVERYONE}")


def check_agreement(page, slug: str) -> None:
    ward, everyone = agreement_rows(page, slug)
    ward.first.scroll_into_view_if_needed()
    assert "too few overlapping judgements" in ward.first.inner_text()
    assert "1.000" not in ward.first.inner_text()
    interval = everyone.first.locator("[data-metric='alpha_ci95']").inner_text()
    assert " to " in interval


def test_ward_7s_alpha_reads_too_few_on_the_pages_and_in_the_card(
    page, live_server, settings, tmp_path
):
    settings.RELEASES_ROOT = tmp_path / "releases"
    cache.clear()
    demo_load()
    # The first pages compute the demo's metrics while they wait (a page never writes).
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))

    log_in(page, live_server, "admin", "/dashboard/")
    page.get_by_role("heading", name="Coverage dashboard", level=1).wait_for()
    overview = page.locator(f"table[data-table='overview'] tr[data-campaign='{CAMPAIGN}']{WARD}")
    assert "too few overlapping judgements" in overview.inner_text()
    check_agreement(page, CAMPAIGN)
    load_every_chart(page)
    shoot(page, "dashboard")

    page.context.clear_cookies()
    log_in(page, live_server, "researcher", f"/campaigns/{CAMPAIGN}/")
    page.get_by_role("heading", name="Releases").wait_for()
    check_agreement(page, CAMPAIGN)
    load_every_chart(page)
    shoot(page, "campaign-page")
    page.locator(f"#agreement-{CAMPAIGN}").scroll_into_view_if_needed()
    page.locator(f"#agreement-{CAMPAIGN} + *").screenshot(path=str(SHOTS / "agreement-table.png"))

    page.get_by_role("button", name="Build a new release").click()
    page.get_by_role("heading", name="Published releases").wait_for()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download all").first.click()
    archive = tmp_path / download.value.suggested_filename
    download.value.save_as(archive)
    with zipfile.ZipFile(archive) as bundle:
        card = bundle.read(f"{CAMPAIGN}-v1/README.md").decode()
        plot = bundle.read(f"{CAMPAIGN}-v1/plots/agreement.png")
    SHOTS.joinpath("release-agreement.png").write_bytes(plot)
    ward = card[card.index("### Ward 7 nursing team") :]
    ward = ward[: ward.index("\n### ")] if "\n### " in ward else ward
    assert "- Agreement on choice: too few overlapping judgements:" in ward
    assert "α (nominal)" not in ward
    everyone = card[card.index("### Everyone") :]
    assert "α (nominal)" in everyone.split("\n### ")[0]
    assert "95% CI" in everyone.split("\n### ")[0]
    assert not errors, errors
