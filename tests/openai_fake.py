"""A FAKE OpenAI-compatible completions server for unit tests of the served parent.

It speaks the part of vLLM's HTTP API that :class:`babyworld.parent.served.OpenAIParent` uses
(``GET /v1/models``, ``POST /v1/completions`` with token-id prompts and ``prompt_logprobs``,
``POST /tokenize``, ``POST /detokenize``) over a tiny transformers model, computed naively (one unpadded forward pass
per prompt), so the served parent's answers can be checked against the in-process parent on the
same model. It is not vLLM: the real server is exercised by tests/test_served_vllm.py.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import torch


class FakeServer:
    """Serve ``model``/``tokenizer`` as ``name`` on 127.0.0.1 (a free port) in a thread.

    Args:
        prompt_logprobs: answer vLLM's ``prompt_logprobs`` (False: ignore it, as plain OpenAI
            endpoints do).
        delay: seconds to sleep before answering a completion (to test timeouts).
        port: the port (0: a free one), e.g. the port of a server that was killed.
    """

    def __init__(
        self, model, tokenizer, name: str = "tiny", prompt_logprobs: bool = True, port: int = 0
    ):
        self.model, self.tok, self.name = model, tokenizer, name
        self.prompt_logprobs = prompt_logprobs
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [_model_card(server.name)]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/tokenize":
                    ids = server.tok.encode(
                        body["prompt"], add_special_tokens=body.get("add_special_tokens", True)
                    )
                    self._send(200, {"tokens": ids, "count": len(ids)})
                elif self.path == "/detokenize":
                    self._send(200, {"prompt": server.tok.decode(body["tokens"])})
                elif self.path == "/v1/completions":
                    if body.get("model") != server.name:
                        msg = f"The model `{body.get('model')}` does not exist."
                        self._send(404, {"error": {"message": msg, "code": 404}})
                        return
                    with server._lock:
                        server.requests.append(body)
                        server.in_flight += 1
                        server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    try:
                        time.sleep(server.delay or 0.02)  # let concurrent requests overlap
                        self._send(200, server.complete(body))
                    finally:
                        with server._lock:
                            server.in_flight -= 1
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @torch.no_grad()
    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        prompts = body["prompt"]
        choices = []
        for i, ids in enumerate(prompts):
            with self._model_lock:
                if body.get("prompt_logprobs") is not None and self.prompt_logprobs:
                    logp = torch.log_softmax(self.model(torch.tensor([ids])).logits[0].float(), -1)
                    plp: list[Any] = [None] + [
                        {str(ids[t]): {"logprob": logp[t - 1, ids[t]].item(), "rank": 1}}
                        for t in range(1, len(ids))
                    ]
                else:
                    plp = None
                text = self._greedy(
                    ids, int(body.get("max_tokens", 16)), body.get("stop") or [],
                    body.get("logit_bias") or {},
                )  # fmt: skip
            choice = {"index": i, "text": text, "finish_reason": "stop", "logprobs": None}
            if plp is not None:
                choice["prompt_logprobs"] = plp
            choices.append(choice)
        return {
            "id": "cmpl-fake",
            "object": "text_completion",
            "created": 0,
            "model": self.name,
            "choices": choices,
            "usage": {"prompt_tokens": sum(map(len, prompts)), "completion_tokens": 0},
        }

    def _greedy(
        self, ids: list[int], max_tokens: int, stop: list[str], bias: dict[str, float]
    ) -> str:
        """Greedy decoding; ``bias``: the request's ``logit_bias``, added to the logits."""
        seq, out = list(ids), []
        for _ in range(max_tokens):
            logits = self.model(torch.tensor([seq])).logits[0, -1]
            for i, b in bias.items():
                logits[int(i)] += float(b)
            nxt = int(logits.argmax())
            if nxt in (self.tok.eos_token_id, self.tok.pad_token_id):
                break
            seq.append(nxt)
            out.append(nxt)
            text = self.tok.decode(out)
            for s in stop:
                if s in text:
                    return text[: text.index(s)]
        return self.tok.decode(out)


def _model_card(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "fake"}
