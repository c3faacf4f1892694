"""The dataset card shows what users typed as text: no tag, link or image of theirs survives.

The Hub and GitHub render a release's README.md as Markdown, which lets HTML
through; campaign, audience and attribute names come from researchers (other
researchers' audiences too), item ids and model names from imported files.
"""

from __future__ import annotations

import os
from html.parser import HTMLParser

import pytest
import yaml
from markdown_it import MarkdownIt

from aggregation.models import ExportJob
from aggregation.release import jobs
from collection import services as collection_services
from collection.models import Audience
from tests.factories import AudienceFactory, UserFactory, make_campaign, ready_participant
from tests.helpers import respond

pytestmark = pytest.mark.django_db

CAMPAIGN_NAME = 'Advice <script>alert("c")</script> | [win](javascript:alert(1))'
CAMPAIGN_DESCRIPTION = (
    "# Not a heading\n<img src=x onerror=alert(2)>\n\n    not code\n"
    "1. not a list ![pixel](https://tracker.example/p.png)"
)
AUDIENCE_NAME = "Panel <b onmouseover=alert(3)>bold</b> `tick` *star*"
AUDIENCE_DESCRIPTION = "[click](https://evil.example) <iframe src=https://evil.example></iframe>"
LABEL = "Region <svg onload=alert(4)>"
CHOICES = ["north <u>", "south | east"]
CONSENT = "I agree.\n<script>steal()</script>\n> quoted <a href='javascript:x'>here</a>"
EXTERNAL_ID = "q1 <img src=y onerror=alert(5)>"
SOURCES = ['model <a href="javascript:alert(6)">m</a>', "other ![i](http://t.example/i.png)"]
CANDIDATE = "x|<i>y</i>"
USER_TEXT = [CAMPAIGN_NAME, AUDIENCE_NAME, AUDIENCE_DESCRIPTION, LABEL, *CHOICES]
USER_TEXT += [EXTERNAL_ID, *SOURCES, CANDIDATE]
# What the card itself draws: structure, code spans and its own plots.
ALLOWED_TAGS = {
    "h1", "h2", "h3", "p", "ul", "ol", "li", "code", "pre", "strong", "em", "blockquote",
    "table", "thead", "tbody", "tr", "th", "td", "hr", "img", "br",
}  # fmt: skip


class Collect(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def render(markdown: str) -> Collect:
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)
    collected = Collect()
    collected.feed(html)
    return collected


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def hostile_campaign():
    owner = UserFactory()
    crowd = AudienceFactory(slug="crowd", name=AUDIENCE_NAME, description=AUDIENCE_DESCRIPTION)
    panel = AudienceFactory(
        slug="panel",
        name=AUDIENCE_NAME + " 2",
        kind=Audience.Kind.PUBLIC,
        attribute_schema=[{"name": "region", "label": LABEL, "choices": CHOICES}],
        target_marginals={"region": {CHOICES[0]: 0.5, CHOICES[1]: 0.5}},
    )
    campaign = make_campaign(
        audiences={crowd: 4, panel: 4},
        items=0,
        owners=[owner],
        slug="hostile",
        name=CAMPAIGN_NAME,
        description=CAMPAIGN_DESCRIPTION,
        consent_text=CONSENT,
        consent_version="2 <br>",
    )
    collection_services.items_create(
        campaign=campaign,
        rows=[
            {
                "external_id": EXTERNAL_ID,
                "prompt": "Which is better?",
                "payload": {
                    "candidates": [
                        {"id": CANDIDATE, "text": "One.", "source": SOURCES[0]},
                        {"id": "b", "text": "Two.", "source": SOURCES[1]},
                    ]
                },
            }
        ],
    )
    items = list(campaign.items.all())
    for audience in (crowd, panel):
        for n in range(3):
            attributes = {"region": CHOICES[n % 2]} if audience is panel else None
            person = ready_participant(audience=audience, campaign=campaign, attributes=attributes)
            choice = CANDIDATE if (n or audience is crowd) else "b"
            respond(person, campaign, audience, items, lambda item, c=choice: {"choice": c})
    return campaign


def test_the_card_shows_user_text_as_text_and_stays_loadable(
    hostile_campaign, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.RELEASES_ROOT = tmp_path / "releases"
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.export_job_create(campaign=hostile_campaign, options={"min_cell_size": 1})
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    folder = settings.RELEASES_ROOT / job.release_path
    readme = (folder / "README.md").read_text()
    _, header, body = readme.split("---\n", 2)

    # Whole file, as a renderer that does not know front matter would show it, and the
    # body, as the Hub shows it: only the card's own tags, no link, only its own plots.
    for shown in (render(readme), render(body)):
        for tag, attrs in shown.tags:
            assert tag in ALLOWED_TAGS, (tag, attrs)
            assert not any(name.startswith("on") for name in attrs), (tag, attrs)
            if tag == "img":
                assert attrs["src"].startswith("plots/"), attrs
    # Still readable: the text a reader sees is what the user typed.
    text = words("".join(render(body).text))
    for typed in USER_TEXT:
        assert words(typed) in text, typed
    for line in [*CAMPAIGN_DESCRIPTION.splitlines(), *CONSENT.splitlines()]:
        assert words(line) in text, line
    assert "(version 2 <br>)" in text

    # The header still loads, with the names unchanged, and so does every config.
    meta = yaml.safe_load(header)
    assert meta["pretty_name"] == f"{CAMPAIGN_NAME} (v1)"
    import datasets

    os.environ["HF_HUB_OFFLINE"] = "1"
    for config in meta["configs"]:
        splits = datasets.load_dataset(
            str(folder), name=config["config_name"], cache_dir=str(tmp_path / "hf")
        )
        assert splits and all(len(rows) > 0 for rows in splits.values())
