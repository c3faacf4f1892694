import os

from django.core.management import call_command
from django.core.management.base import BaseCommand

from collection.demo import DEMO_API_KEY, DEMO_PASSWORD, demo_load


class Command(BaseCommand):
    help = "Load the demo audiences, campaigns, items and simulated responses (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-simulate", action="store_true", help="Skip the simulated annotators."
        )
        parser.add_argument(
            "--url",
            default=f"http://127.0.0.1:{os.environ.get('PORT') or 8000}/",
            help="Where the site will be served, for the links printed (default: "
            "http://127.0.0.1:$PORT/, as `make run` serves it).",
        )

    def handle(self, *args, **options):
        logins = demo_load(simulate=not options["no_simulate"])
        # The dashboard's metrics and the coverage alerts, as the periodic task keeps them;
        # its summary (one line per campaign) is printed here, once.
        self.stdout.write("Coverage check:")
        call_command("record_alerts", stdout=self.stdout)
        url = options["url"].rstrip("/") + "/"
        self.stdout.write(self.style.SUCCESS(f"Demo ready. Log in at {url}"))
        for login in logins:
            self.stdout.write(
                f"  {login.role:<18} user {login.username:<11} password {DEMO_PASSWORD}"
                f"   ({login.note})"
            )
        self.stdout.write(f"  API token of the demo researcher: {DEMO_API_KEY}")
        self.stdout.write(f"  API docs: {url}api/docs/")
