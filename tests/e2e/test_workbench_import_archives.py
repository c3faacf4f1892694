"""In Chromium, at 1280 and 390 px: a researcher uploads a .zip of a folder `datasets`
wrote and reads the import report, with the counts of what the items hold."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from collection.models import Campaign
from collection.permissions import RESEARCHERS_GROUP
from tests.collection.test_import_archives import ULTRAFEEDBACK, zipped
from tests.e2e.test_workbench import log_in
from tests.e2e.test_workbench_imports import shoot
from tests.factories import AudienceFactory, UserFactory, make_campaign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 390])
def test_a_zipped_datasets_folder_imports_from_the_page_with_its_report(
    browser, live_server, tmp_path, width
):
    import datasets  # slow to import; only this test of the module needs it

    researcher = UserFactory(username=f"zipper{width}")
    researcher.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    campaign = make_campaign(
        audiences={AudienceFactory(slug=f"all-{width}"): 1},
        items=0,
        owners=[researcher],
        slug=f"uf-{width}",
        name="UltraFeedback again",
    )
    folder = tmp_path / "ultrafeedback"
    datasets.Dataset.from_list(ULTRAFEEDBACK).save_to_disk(str(folder))
    path = tmp_path / "ultrafeedback.zip"
    path.write_bytes(zipped(folder))

    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, live_server, researcher.username)
    page.goto(f"{live_server.url}/workbench/campaigns/{campaign.slug}/import/")
    page.get_by_label("File", exact=True).set_input_files(str(path))
    page.get_by_role("button", name="Check and import").click()
    report = page.locator("#report").inner_text()
    assert "Imported 2 items." in report
    assert "1 empty reply, kept as an empty candidate." in report
    shoot(page, f"import-zip-{width}")
    context.close()
    assert Campaign.objects.get(pk=campaign.pk).items.count() == 2
