"""Conversation turns: the platform's own time per turn, and replies asked in parallel.

    .venv/bin/python benchmarks/conversation_benchmark.py overhead --participants 1 32 \
        --turns 50
    .venv/bin/python benchmarks/conversation_benchmark.py parallel --latencies 200 400 800

``overhead``: gunicorn (production settings over plain HTTP on loopback) and a stand-in
model that answers at once (its own process), on a fresh database beside DATABASE_URL's.
Each participant is a logged-in session in its own thread and runs turns as the page
does: ask (the streamed form, read to its ``done`` event), read the page for the
replies' token, judge. A turn's time is those three requests; with the model answering
at once it is the platform's overhead (plus the stand-in's own few milliseconds, shown
as ``standin_ms``). Two endpoints reply per turn; the campaign allows 256 calls in
flight, so its limit is not what is measured.

``parallel``: one participant, three endpoints on one stand-in that waits 200, 400 and
800 ms before answering; a turn (`endpoints.conversations.services.turn_ask`, read to
its end) should take about as long as the slowest model, not the sum.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402

from benchmarks import common  # noqa: E402
from benchmarks.submit_benchmark import start_server  # noqa: E402

STANDIN_KEY = "sk-bench-standin"
CSRF = "b" * 32  # any 32-character secret: Django compares the header with the cookie


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def start_standin(*models: str) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, str(ROOT / "manage.py"), "standin_model", "--api-key", STANDIN_KEY]
    for model in models:
        command += ["--model", model]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    return server, server.stdout.readline().split(" at ")[1].split()[0]


# Turns per conversation: a benchmark of many turns runs several conversations each, so
# the history the models are sent stays as long as a real conversation's.
TURN_LIMIT = 10

SETUP = (
    f"TURN_LIMIT = {TURN_LIMIT}\n"
    + """
import django, json, sys
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
from collection import services
from endpoints import services as endpoint_services
from endpoints.conversations import services as conversation_services
base_url, key, participants, turns = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
User = get_user_model()
owner = User.objects.create(username="bench-owner", is_staff=True)
audience = services.audience_create(slug="bench", name="Bench", kind="mass")
campaign = services.campaign_create(slug="talk", name="Talk", item_kind="conversation",
    owners=[owner], targets={audience: 1}, lease_seconds=3600)
# Each participant has conversations of TURN_LIMIT turns, one after another.
seeds = participants * -(-turns // TURN_LIMIT)
services.items_create(campaign=campaign, rows=(
    {"external_id": f"s{n}", "prompt": f"Opening {n}"} for n in range(seeds)))
ids = [endpoint_services.endpoint_create(owner=owner, name=f"m{n}", base_url=base_url,
    model=f"m{n}", api_key=key, timeout_seconds=30).pk for n in range(2)]
conversation_services.conversation_settings_save(campaign=campaign, user=owner,
    endpoint_ids=ids, replies_per_turn=2, turn_limit=TURN_LIMIT, max_calls_in_flight=256)
services.campaign_set_status(campaign=campaign, status="open")
sessions = []
for n in range(participants):
    user = User.objects.create(username=f"bench-{n}")
    participant = services.participant_get_or_create(user=user)
    services.membership_join(participant=participant, audience=audience)
    services.consent_give(participant=participant, campaign=campaign)
    client = Client()
    client.force_login(user)
    sessions.append(client.cookies["sessionid"].value)
print(json.dumps(sessions))
"""
)


class Browser:
    """One participant's session over one keep-alive connection."""

    def __init__(self, port: int, session: str):
        self.conn = HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = f"sessionid={session}; csrftoken={CSRF}"

    def send(self, method: str, path: str, form: dict | None = None, *, stream=False):
        body = urllib.parse.urlencode(form or {}).encode()
        headers = {"Cookie": self.cookie, "Host": "127.0.0.1", "X-CSRFToken": CSRF}
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if stream:
            headers["Accept"] = "text/event-stream"
        self.conn.request(method, path, body=body if form is not None else None, headers=headers)
        reply = self.conn.getresponse()
        data = reply.read()
        if stream:
            # The stream has no length: the server closes the connection after it.
            self.conn.close()
        return reply.status, data.decode()


def participant_run(
    port: int, session: str, turns: int, out: list, errors: list, warmup: int = 0
) -> None:
    """``warmup`` turns first, not timed: a gunicorn worker's first requests import and
    connect what it needs (seconds, per worker)."""
    browser = Browser(port, session)

    def start() -> str:
        status, _ = browser.send("POST", "/campaigns/talk/chat/start/", {})
        assert status == 302, status
        _, page = browser.send("GET", "/campaigns/talk/chat/")
        return re.search(r'name="conversation" value="(\d+)"', page).group(1)

    try:
        conversation = start()
        for n in range(warmup + turns):
            if n and n % TURN_LIMIT == 0:  # the turn limit: rate it and start another
                status, _ = browser.send(
                    "POST", "/campaigns/talk/chat/end/", {"conversation": conversation, "rating": 4}
                )
                assert status == 302, status
                conversation = start()
            started = time.perf_counter()
            status, events = browser.send(
                "POST",
                "/campaigns/talk/chat/ask/",
                {"conversation": conversation, "message": f"Message {n}"},
                stream=True,
            )
            assert status == 200 and "event: done" in events, events[-300:]
            _, page = browser.send("GET", "/campaigns/talk/chat/")
            token = re.search(r'name="token" value="([0-9a-f]+)"', page).group(1)
            choice = re.search(r'name="choice" value="([a-d])"', page).group(1)
            status, _ = browser.send(
                "POST",
                "/campaigns/talk/chat/judge/",
                {"conversation": conversation, "token": token, "choice": choice},
            )
            assert status == 302, status
            if n >= warmup:
                out.append((time.perf_counter() - started) * 1000)
    except Exception as error:  # reported, and the run fails
        errors.append(repr(error))


def overhead(args) -> None:
    # One key for the setup (which stores the endpoints' keys) and the served site.
    os.environ.setdefault("PLURALIGN_ENDPOINT_KEYS", Fernet.generate_key().decode())
    standin, base_url = start_standin()
    try:
        # The stand-in's own time per request, answered at once, from this machine.
        sys_times = []
        for _ in range(20):
            conn = HTTPConnection(base_url.split("//")[1].split("/")[0])
            started = time.perf_counter()
            conn.request(
                "POST",
                "/v1/chat/completions",
                body=json.dumps({"model": "m0", "messages": [{"role": "user", "content": "x"}]}),
                headers={"Authorization": f"Bearer {STANDIN_KEY}"},
            )
            conn.getresponse().read()
            sys_times.append((time.perf_counter() - started) * 1000)
            conn.close()
        levels = []
        for participants in args.participants:
            database_url = common.bench_database_url()
            env = {**os.environ, "DATABASE_URL": database_url}
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
            )
            made = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    SETUP,
                    base_url,
                    STANDIN_KEY,
                    str(participants),
                    str(args.turns + args.warmup),
                ],
                cwd=ROOT,
                # The served site's secret key, which signs the sessions made here.
                env={
                    **env,
                    "DJANGO_SETTINGS_MODULE": "config.settings",
                    "DJANGO_SECRET_KEY": "bench",
                },
                check=True,
                capture_output=True,
                text=True,
            )
            sessions = json.loads(made.stdout.strip().splitlines()[-1])
            server = start_server(
                database_url, args.port, args.workers, boot_seconds=180, threads=args.threads
            )
            try:
                times: list[float] = []
                errors: list[str] = []
                threads = [
                    threading.Thread(
                        target=participant_run,
                        args=(args.port, s, args.turns, times, errors, args.warmup),
                    )
                    for s in sessions
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            finally:
                server.terminate()
                try:
                    server.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            if errors:
                raise SystemExit(f"{len(errors)} participants failed: {errors[:3]}")
            levels.append(
                {
                    "participants": participants,
                    "workers": args.workers,
                    "threads": args.threads,
                    "turns": len(times),
                    "p50_ms": round(statistics.median(times), 1),
                    "p99_ms": round(percentile(times, 99), 1),
                    "max_ms": round(max(times), 1),
                    "warmup_turns_each": args.warmup,
                    "load_average": os.getloadavg(),
                }
            )
            print(levels[-1], flush=True)
    finally:
        standin.terminate()
        standin.wait(timeout=10)
    common.save_report(
        "conversation_overhead",
        {
            "gunicorn_workers": args.workers,
            "standin_ms": {
                "p50": round(statistics.median(sys_times), 1),
                "max": round(max(sys_times), 1),
            },
            "levels": levels,
        },
    )


def parallel(args) -> None:
    os.environ.setdefault("PLURALIGN_ENDPOINT_KEYS", "")
    campaign0 = common.bench_campaign(k=1)
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.contrib.auth import get_user_model

    from collection import conversations as conversation_writes
    from collection import services
    from endpoints import services as endpoint_services
    from endpoints.conversations import services as conversation_services

    audience = campaign0.audiences.get()
    models = [f"slow{latency:g}" for latency in args.latencies]
    standin, base_url = start_standin(
        *[
            f"{name}=latency_ms:{latency:g}"
            for name, latency in zip(models, args.latencies, strict=True)
        ]
    )
    try:
        owner = get_user_model().objects.create(username="bench-owner", is_staff=True)
        campaign = services.campaign_create(
            slug="parallel",
            name="Parallel",
            item_kind="conversation",
            owners=[owner],
            targets={audience: 1},
            lease_seconds=3600,
        )
        services.items_create(campaign=campaign, rows=[{"external_id": "s0", "prompt": "Opening"}])
        ids = [
            endpoint_services.endpoint_create(
                owner=owner, name=name, base_url=base_url, model=name, api_key=STANDIN_KEY
            ).pk
            for name in models
        ]
        conversation_services.conversation_settings_save(
            campaign=campaign,
            user=owner,
            endpoint_ids=ids,
            replies_per_turn=len(ids),
            turn_limit=50,
            max_calls_in_flight=len(ids),
        )
        services.campaign_set_status(campaign=campaign, status="open")
        user = get_user_model().objects.create(username="bench-person")
        person = services.participant_get_or_create(user=user)
        services.membership_join(participant=person, audience=audience)
        services.consent_give(participant=person, campaign=campaign)
        conversation = conversation_services.conversation_begin(
            participant=person, campaign=campaign
        )
        times, latencies = [], []
        for n in range(args.turns):
            started = time.perf_counter()
            events, marks = [], []
            for event in conversation_services.turn_ask(
                participant=person, conversation=conversation, message=f"Message {n}"
            ):
                events.append(event)
                marks.append((event["event"], round((time.perf_counter() - started) * 1000)))
            times.append((time.perf_counter() - started) * 1000)
            if os.environ.get("BENCH_TRACE"):
                print([m for m in marks if m[0] != "delta"], flush=True)
            assert events[-1]["event"] == "done" and events[-1]["arrived"] == len(ids), events
            conversation.refresh_from_db()
            pending = conversation.pending
            latencies.append({r["source"]: r["latency_ms"] for r in pending["replies"]})
            conversation_writes.turn_save(
                participant=person,
                conversation_id=conversation.pk,
                token=pending["token"],
                judgement={"choice": pending["shown"][0]},
            )
            conversation.refresh_from_db()
    finally:
        standin.terminate()
        standin.wait(timeout=10)
    common.save_report(
        "conversation_parallel",
        {
            "model_latencies_ms": args.latencies,
            "slowest_ms": max(args.latencies),
            "sum_ms": sum(args.latencies),
            "turns": len(times),
            "turn_ms_p50": round(statistics.median(times), 1),
            "turn_ms_max": round(max(times), 1),
            "reply_latency_ms_p50": {
                name: statistics.median(row[name] for row in latencies) for name in models
            },
            "load_average": os.getloadavg(),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("overhead")
    one.add_argument("--participants", type=int, nargs="+", default=[1, 32])
    one.add_argument("--turns", type=int, default=50, help="timed turns per participant")
    # As docker/ runs it (Dockerfile, compose.yaml): 4 gthread workers of 16 threads, so
    # a streamed ask holds a thread, not a whole worker.
    one.add_argument("--workers", type=int, default=4)
    one.add_argument("--threads", type=int, default=16)
    one.add_argument("--port", type=int, default=8771)
    one.add_argument("--warmup", type=int, default=3, help="untimed turns per participant")
    two = commands.add_parser("parallel")
    two.add_argument("--latencies", type=float, nargs="+", default=[200, 400, 800])
    two.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()
    common.BENCH_DB = os.environ.get("PLURALIGN_BENCH_DB", "pluralign_bench") + "_conversation"
    (overhead if args.command == "overhead" else parallel)(args)


if __name__ == "__main__":
    main()
