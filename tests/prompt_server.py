"""A local OpenAI-compatible HTTP server for leap-prompt's tests and benchmarks (127.0.0.1 only).

It answers chat completions with scripted programs, one per stub in the request, and can inject
faults into a fixed share of the requests, the kinds taking turns: 429 with Retry-After, 500,
slow answers, truncated bodies, responses missing functions and responses wrapped in prose and
markdown fences. It also implements the parts of /v1/files
and /v1/batches that the Batch API path uses. Every request is logged for the tests to count.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("429", "500", "slow", "truncated", "missing", "prose")
_STUB = re.compile(r"^def ([A-Za-z_][A-Za-z0-9_]*)\(start_t=0, stop_t=([0-9.]+)\):", re.M)


def program(name: str, stop: str) -> str:
    """The scripted program for one stub (valid under the checker)."""
    return (f"def {name}(start_t=0, stop_t={stop}):\n"
            "    # 1: get the cup\n"
            '    if not in_hand("cup"):\n'
            '        grasp("cup")\n'
            '        assert in_hand("cup")\n'
            "    # 2: put it down\n"
            '    position("cup", "top")\n'
            '    release("cup")\n')


def grounded(name: str, stop: str, evidence: str) -> str:
    """A program naming only the first object of its stub's evidence (else its name's noun)."""
    seen = re.search(r"# objects = \[([^,\]]+)", evidence)
    o = seen.group(1).strip() if seen else re.sub(r"_\d+$", "", name).split("_")[-1]
    return (f"def {name}(start_t=0, stop_t={stop}):\n"
            f"    # 1: take the {o}\n"
            f'    if not in_hand("{o}"):\n'
            f'        grasp("{o}")\n'
            f'        assert in_hand("{o}")\n')


def asked(messages: list[dict]) -> str:
    """The last message after the library: where the stubs (or answers sent back) are."""
    text = messages[-1]["content"]
    cut = max(text.rfind("# Complete the following functions"), text.rfind("# Repair "))
    return text[cut:] if cut >= 0 else text


def stubs_in(messages: list[dict]) -> list[tuple[str, str]]:
    """(name, stop_t) of the stubs asked for: the def lines after the library in the last message."""
    return _STUB.findall(asked(messages))


def digest(messages) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fault_rate: float = 0.0, faults=FAULTS, latency: float = 0.0,
                 slow: float = 1.0, retry_after: str = "0.05", batch_ready_after: int = 0,
                 batch_end: str = "completed", script=(), models: tuple[str, ...] = ("test-model",)):
        super().__init__(("127.0.0.1", 0), Handler)
        self.fault_rate, self.faults, self.latency, self.slow = fault_rate, tuple(faults), latency, slow
        self.retry_after, self.batch_ready_after = retry_after, batch_ready_after
        self.batch_end = batch_end  # "expired": only the first half of the requests answered
        # faults of the first chat requests, in order (then fault_rate): besides FAULTS,
        # "length" (cut in its last function, finish_reason length), "echo" (the stubs given
        # back without a body), "copy" (library example put_plate under each stub's name) and
        # "renamed" (each function under another name), "grounded" (each function names only
        # its stub's first evidence object: consistent where the stub has evidence)
        self.script = list(script)
        self.models = models        # what GET /v1/models lists
        self.lock = threading.Lock()
        self.log: list[dict] = []          # every chat request: digest, outcome, headers seen
        self.seen: dict[str, int] = {}     # digest -> times asked
        self.requests = self.faulty = 0
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def handle_error(self, request, client_address):  # a client that gave up (timeout): fine
        pass

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> "Server":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def answered(self) -> list[str]:
        """Digests of the chat requests answered with a complete 200 response."""
        return [r["digest"] for r in self.log if r["outcome"] in ("ok", "missing", "prose", "grounded")]

    def fault_for(self) -> str:
        """Exactly fault_rate of the requests, in arrival order, are faulty; the faults take
        turns, so every kind occurs once there are as many faulty requests as kinds."""
        n = self.requests
        self.requests += 1
        if n < len(self.script):
            return self.script[n]
        if int((n + 1) * self.fault_rate) == int(n * self.fault_rate):
            return "ok"
        self.faulty += 1
        return self.faults[(self.faulty - 1) % len(self.faults)]

    def completion(self, body: dict, fault: str = "ok") -> dict:
        stubs = stubs_in(body["messages"])
        if fault == "missing" and len(stubs) > 1:
            stubs = stubs[::2]  # every other function left out
        text = "\n\n".join(program(n, s) for n, s in stubs)
        finish = "stop"
        if fault == "length":
            text, finish = text[: text.rfind("\n    # 2: put it down")], "length"
        if fault == "renamed":  # every function under another name
            text = "\n\n".join(program(f"clip_{k}", s) for k, (n, s) in enumerate(stubs))
        if fault == "echo":
            text = "\n\n".join(f"def {n}(start_t=0, stop_t={s}):\n    # Holding nothing at start.\n"
                               for n, s in stubs)
        if fault == "copy":
            from leap_cli.program import library

            src = dict(library())["put_plate"]
            text = "\n\n".join(f"def {n}(start_t=0, stop_t={s}):" + src.split(":", 1)[1].split("\n", 1)[1]
                               for n, s in stubs)
        if fault == "grounded":
            pieces = re.split(r"(?m)^(?=def )", asked(body["messages"]))
            text = "\n\n".join(grounded(n, s, next((p for p in pieces if p.startswith(f"def {n}(")), ""))
                                 for n, s in stubs)
        if fault == "prose":
            text = f"Here are the programs you asked for:\n\n```python\n{text}```\n\nEach keeps its stub's name."
        prompt_tokens = sum(len(m["content"]) for m in body["messages"]) // 4
        return {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "test"),
                "choices": [{"index": 0, "finish_reason": finish,
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text) // 4,
                          "total_tokens": prompt_tokens + len(text) // 4,
                          "prompt_tokens_details": {"cached_tokens": 0}}}


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _send(self, code: int, payload, headers: dict | None = None, truncate: bool = False):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if truncate else data)
        if truncate:
            self.wfile.flush()
            self.close_connection = True

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self):
        s = self.server
        raw = self._body()
        if self.path.endswith("/chat/completions"):
            body = json.loads(raw)
            d = digest(body["messages"])
            with s.lock:
                attempt = s.seen.get(d, 0)
                s.seen[d] = attempt + 1
                fault = s.fault_for()
                s.log.append({"digest": d, "outcome": fault, "attempt": attempt, "t": time.time(),
                              "authorization": self.headers.get("Authorization"),
                              "stubs": [n for n, _ in stubs_in(body["messages"])],
                              "messages_tail": body["messages"][-1]["content"][-2000:],
                              "params": {k: v for k, v in body.items() if k not in ("messages",)}})
            if s.latency:
                time.sleep(s.latency)
            if fault == "429":
                return self._send(429, {"error": {"message": "rate limited", "type": "requests"}},
                                  {"Retry-After": s.retry_after})
            if fault == "401":
                return self._send(401, {"error": {"message": "Incorrect API key provided", "type": "auth"}})
            if fault == "400echo":  # a proxy that quotes the request's headers back
                return self._send(400, {"error": {"message": "bad request; headers were: Authorization: "
                                                  f"{self.headers.get('Authorization')}", "type": "invalid"}})
            if fault == "500":
                return self._send(500, {"error": {"message": "server error", "type": "server"}})
            if fault == "slow":
                time.sleep(s.slow)
            return self._send(200, s.completion(body, fault), truncate=fault == "truncated")
        if self.path.endswith("/files"):
            content = _multipart_file(self.headers.get("Content-Type", ""), raw)
            with s.lock:
                fid = f"file-{len(s.files) + 1}"
                s.files[fid] = content
            return self._send(200, _file_obj(fid, content))
        if self.path.endswith("/batches"):
            body = json.loads(raw)
            with s.lock:
                bid = f"batch_{len(s.batches) + 1}"
                s.batches[bid] = {"input": body["input_file_id"], "polls": 0, "output": None}
            return self._send(200, self._batch(bid))
        self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_GET(self):
        s = self.server
        if self.path.endswith("/models"):
            return self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                                "owned_by": "test"} for m in s.models]})
        m = re.search(r"/files/([^/]+)/content$", self.path)
        if m and m.group(1) in s.files:
            return self._send(200, s.files[m.group(1)])
        m = re.search(r"/batches/([^/]+)$", self.path)
        if m and m.group(1) in s.batches:
            with s.lock:
                s.batches[m.group(1)]["polls"] += 1
            return self._send(200, self._batch(m.group(1)))
        self._send(404, {"error": {"message": f"no route {self.path}"}})

    def _batch(self, bid: str) -> dict:
        s = self.server
        b = s.batches[bid]
        lines = [json.loads(x) for x in s.files[b["input"]].decode().splitlines() if x.strip()]
        ready = b["polls"] > s.batch_ready_after
        if ready and b["output"] is None:
            done = lines if s.batch_end == "completed" else lines[: len(lines) // 2]
            out = [{"id": f"req-{i}", "custom_id": x["custom_id"], "error": None,
                    "response": {"status_code": 200, "request_id": f"r{i}",
                                 "body": s.completion(x["body"])}} for i, x in enumerate(done)]
            fid = f"file-{len(s.files) + 1}"
            s.files[fid] = ("\n".join(json.dumps(o) for o in out) + "\n").encode()
            b["output"] = fid
        n = len(lines)
        return {"id": bid, "object": "batch", "endpoint": "/v1/chat/completions", "errors": None,
                "input_file_id": b["input"], "completion_window": "24h",
                "status": s.batch_end if ready else "in_progress",
                "output_file_id": b["output"] if ready else None, "error_file_id": None,
                "created_at": 0, "request_counts": {"total": n, "completed": n if ready else 0,
                                                    "failed": 0}}


def _file_obj(fid: str, content: bytes) -> dict:
    return {"id": fid, "object": "file", "bytes": len(content), "created_at": 0,
            "filename": "input.jsonl", "purpose": "batch", "status": "processed"}


def _multipart_file(content_type: str, raw: bytes) -> bytes:
    """The bytes of the part named 'file' of a multipart/form-data body."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        return raw
    for part in raw.split(b"--" + m.group(1).encode()):
        head, _, data = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return data[: -2] if data.endswith(b"\r\n") else data
    return b""
