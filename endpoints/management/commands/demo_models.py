"""Add the demo's model endpoints, conversation campaign and arena (after ``manage.py demo``)."""

import os

from django.core.management.base import BaseCommand

from endpoints.demo import demo_models_load


class Command(BaseCommand):
    help = (
        "Register the demo's model endpoints and open a conversation and an arena campaign "
        "(PLURALIGN_DEMO_MODEL_URL: a real OpenAI-compatible server; else the stand-in)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url",
            default=f"http://127.0.0.1:{os.environ.get('PORT') or 8000}/",
            help="Where the site will be served, for the links printed.",
        )

    def handle(self, *args, **options):
        loaded = demo_models_load()
        where = (
            f"the local stand-in at {loaded.base_url} (canned text; `make run` starts it)"
            if loaded.standin
            else f"{loaded.model} at {loaded.base_url}"
        )
        self.stdout.write(self.style.SUCCESS(f"Demo models: {where}."))
        for slug in loaded.campaigns:
            self.stdout.write(f"  {options['url'].rstrip('/')}/campaigns/{slug}/chat/")
