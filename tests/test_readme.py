"""The README's promises: its API example runs against a served site with the demo."""

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

from collection.demo import demo_load
from collection.models import Campaign

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_opens_with_the_two_commands():
    head = README.read_text()[:1500]
    assert "make run" in head and "make test" in head


@pytest.mark.django_db(transaction=True)
def test_the_api_example_runs_against_the_demo(live_server, monkeypatch):
    demo_load(simulate=False)
    monkeypatch.setitem(os.environ, "PLURALIGN_URL", live_server.url)
    (example,) = python_blocks()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, "README example", "exec"), {})
    assert "'created': 20" in printed.getvalue()
    campaign = Campaign.objects.get(slug="readme-homework")
    assert campaign.status == "open" and campaign.items.count() == 20
    assert "readme-teachers 60 slots" in printed.getvalue()
