"""A stand-in OpenAI-compatible model server: real HTTP on 127.0.0.1, no model.

It answers ``POST /v1/chat/completions`` (streaming as server-sent events or not)
and ``GET /v1/models`` with canned replies derived from the prompt, the model
name, the seed and the temperature, so different endpoints and samples differ
and the same request always gets the same reply. Behaviours (latency, 429 with
Retry-After, 500, hanging) are set for the whole server or per model name, so
tests, the benchmark and the demo drive the production client against it.
It binds to 127.0.0.1 only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_SENTENCES = (
    "consider the context first then weigh each option carefully because people differ "
    "in what they value most a short honest answer often helps more than a long one "
    "safety matters but so does respect for the person asking and their own judgement "
    "local norms shape expectations so ask what they need before you advise them clearly "
    "evidence changes over time and good advice says where it is uncertain and why"
)
WORDS = _SENTENCES.split()


@dataclasses.dataclass
class Behaviour:
    """How the server answers. ``fail_first`` applies ``status`` only to the first n
    requests (then it answers normally), to show a retry succeeding."""

    latency_ms: float = 0.0
    status: int = 200  # 429 or 500 to fail
    retry_after: float | None = None
    fail_first: int | None = None
    hang: bool = False
    variety: int | None = None  # only this many distinct replies (seed mod variety)
    words: int = 24
    text: str | None = None  # reply exactly this (say, markup, to show it is escaped)


def reply_text(*, model: str, messages: list, seed, temperature, variety: int | None, words: int):
    """The canned reply: a deterministic function of the request."""
    if variety:
        seed = (seed or 0) % variety
    prompt = json.dumps(messages, sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(f"{model}|{prompt}|{seed}|{temperature}".encode()).digest()
    while len(digest) < words:
        digest += hashlib.sha256(digest).digest()
    return " ".join(WORDS[byte % len(WORDS)] for byte in digest[:words]).capitalize() + "."


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0, *, api_key: str = "", behaviour: Behaviour | None = None):
        super().__init__(("127.0.0.1", port), _Handler)
        self.api_key = api_key
        self.behaviour = behaviour or Behaviour()
        self.per_model: dict[str, Behaviour] = {}
        self.requests: list[dict] = []  # every chat request body, for tests
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self.released = threading.Event()  # set on stop: hanging handlers return
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def set_behaviour(self, model: str | None = None, **fields) -> None:
        if model is None:
            self.behaviour = Behaviour(**fields)
        else:
            self.per_model[model] = Behaviour(**fields)

    def behaviour_for(self, model: str) -> tuple[Behaviour, int]:
        with self._lock:
            count = self._served.get(model, 0) + 1
            self._served[model] = count
        return self.per_model.get(model, self.behaviour), count

    def start(self) -> StandinServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True, name="standin")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self.shutdown()
        self.server_close()

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    server: StandinServer
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as uvicorn (vLLM, LiteLLM) and Ollama's server set it: a reply is
    # two writes (headers, then body), and with Nagle's algorithm the body waited for
    # the client's delayed ACK, adding ~40 ms to every request (measured: p50 44 ms
    # against 6 ms for a sequential request at no latency).
    disable_nagle_algorithm = True

    def log_message(self, *args):  # quiet: tests and benchmarks read stdout
        pass

    def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict | None = None) -> None:
        kind = {401: "authentication_error", 429: "rate_limit_error"}.get(status, "server_error")
        self._json(status, {"error": {"message": message, "type": kind}}, headers)

    def _authorised(self) -> bool:
        if not self.server.api_key:
            return True
        if self.headers.get("Authorization") == f"Bearer {self.server.api_key}":
            return True
        self._error(401, "Invalid API key.")
        return False

    def do_GET(self):
        if not self._authorised():
            return
        if self.path.rstrip("/") != "/v1/models":
            return self._error(404, "Not found.")
        names = sorted(self.server.per_model) or ["standin"]
        self._json(
            200,
            {
                "object": "list",
                "data": [{"id": n, "object": "model", "owned_by": "standin"} for n in names],
            },
        )

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self._authorised():
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._error(404, "Not found.")
        try:
            body = json.loads(raw or b"{}")
            model, messages = str(body["model"]), list(body["messages"])
        except (ValueError, KeyError, TypeError):
            return self._error(400, "Send JSON with model and messages.")
        with self.server._lock:
            self.server.requests.append(body)
        behaviour, count = self.server.behaviour_for(model)
        if behaviour.hang:
            self.server.released.wait()
            return
        if behaviour.latency_ms:
            time.sleep(behaviour.latency_ms / 1000)
        failing = behaviour.status != 200 and (
            behaviour.fail_first is None or count <= behaviour.fail_first
        )
        if failing:
            headers = {}
            if behaviour.retry_after is not None:
                headers["Retry-After"] = f"{behaviour.retry_after:g}"
            return self._error(behaviour.status, HTTPStatus(behaviour.status).phrase, headers)
        text = behaviour.text or reply_text(
            model=model,
            messages=messages,
            seed=body.get("seed"),
            temperature=body.get("temperature"),
            variety=behaviour.variety,
            words=min(behaviour.words, int(body.get("max_tokens") or behaviour.words)),
        )
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(text.split()),
            "total_tokens": prompt_tokens + len(text.split()),
        }
        ident = "chatcmpl-" + hashlib.sha1(text.encode()).hexdigest()[:12]
        created = int(time.time())
        if not body.get("stream"):
            return self._json(
                200,
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                },
            )
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def event(choices: list, extra: dict | None = None) -> None:
            chunk = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **(extra or {}),
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()

        words = text.split(" ")
        event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for n, word in enumerate(words):
            piece = word if n == 0 else " " + word
            event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        event([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if (body.get("stream_options") or {}).get("include_usage"):
            event([], {"usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
