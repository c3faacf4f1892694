"""Serve the stand-in OpenAI-compatible model on 127.0.0.1 until interrupted."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from endpoints.standin import Behaviour, StandinServer


def _behaviour(text: str) -> tuple[str, Behaviour]:
    """``model=latency_ms:200,status:429,retry_after:1,fail_first:3,hang:1,variety:2``"""
    model, _, spec = text.partition("=")
    fields = {}
    for part in filter(None, spec.split(",")):
        name, _, value = part.partition(":")
        if name not in Behaviour.__dataclass_fields__:
            raise CommandError(f"Unknown behaviour {name!r} in {text!r}.")
        fields[name] = bool(int(value)) if name == "hang" else float(value)
        if name in ("status", "fail_first", "variety", "words"):
            fields[name] = int(float(value))
    return model, Behaviour(**fields)


class Command(BaseCommand):
    help = "Run the stand-in model server (POST /v1/chat/completions, GET /v1/models)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=0, help="default: a free port")
        parser.add_argument("--api-key", default="", help="require this bearer key")
        parser.add_argument("--latency-ms", type=float, default=0.0)
        parser.add_argument(
            "--model",
            action="append",
            default=[],
            metavar="NAME=SPEC",
            help="per-model behaviour, e.g. slow=latency_ms:2000 or busy=status:429,retry_after:1",
        )

    def handle(self, *args, **options):
        server = StandinServer(
            options["port"],
            api_key=options["api_key"],
            behaviour=Behaviour(latency_ms=options["latency_ms"]),
        )
        for text in options["model"]:
            model, behaviour = _behaviour(text)
            server.per_model[model] = behaviour
        self.stdout.write(f"Stand-in model server at {server.base_url} (Ctrl-C stops it)")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.released.set()
            server.server_close()
