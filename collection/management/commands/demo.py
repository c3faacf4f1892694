from django.core.management import call_command
from django.core.management.base import BaseCommand

from collection.demo import DEMO_API_KEY, DEMO_PASSWORD, demo_load


class Command(BaseCommand):
    help = "Load the demo audiences, campaigns, items and simulated responses (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-simulate", action="store_true", help="Skip the simulated annotators."
        )

    def handle(self, *args, **options):
        logins = demo_load(simulate=not options["no_simulate"])
        # The dashboard's metrics and the coverage alerts, as the periodic task keeps them.
        call_command("record_alerts", verbosity=0)
        self.stdout.write(self.style.SUCCESS("Demo ready. Log in at http://127.0.0.1:8000/"))
        for login in logins:
            self.stdout.write(
                f"  {login.role:<18} user {login.username:<11} password {DEMO_PASSWORD}"
                f"   ({login.note})"
            )
        self.stdout.write(f"  API token of the demo researcher: {DEMO_API_KEY}")
        self.stdout.write("  API docs: http://127.0.0.1:8000/api/docs/")
