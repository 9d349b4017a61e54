"""Batch endpoints for the loopback provider server: OpenAI Batch API and Anthropic Message Batches.

Why: ``runner=batch`` must be tested through the official SDKs' batch calls (file upload, batch
create/retrieve, result download) without the network. Each batch line is answered by the server's
policy, exactly like an online request, after ``server.batch_delay_s`` in progress, so a client
has to poll. Lines are recorded in ``server.requests`` (one per answered line), and every batch
creation in ``created``, so tests can count what was submitted and answered.

OpenAI: ``POST /v1/files`` (multipart, purpose ``batch``), ``POST /v1/batches``,
``GET /v1/batches/{id}``, ``GET /v1/files/{id}/content``.
Anthropic: ``POST /v1/messages/batches``, ``GET /v1/messages/batches/{id}``,
``GET /v1/messages/batches/{id}/results``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web


class BatchEndpoints:
    """Routes and state of both batch protocols, on one :class:`ProviderServer`."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.files: dict[str, bytes] = {}
        self.openai: dict[str, dict[str, Any]] = {}
        self.anthropic: dict[str, dict[str, Any]] = {}
        self.results: dict[str, bytes] = {}
        #: ids of every batch created, in order (both protocols)
        self.created: list[str] = []
        #: when set, a :class:`provider_server.RawReply` that answers every batch submission
        #: (file upload, Message Batch creation) instead: a provider refusing the batch
        self.refuse_with: Any = None
        #: when set, a RawReply that answers every download of results (OpenAI file content,
        #: Anthropic results) instead: a provider whose result store is down
        self.results_fault: Any = None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{id}/content", self._file_content)
        app.router.add_post("/v1/batches", self._openai_create)
        app.router.add_get("/v1/batches/{id}", self._openai_retrieve)
        app.router.add_post("/v1/messages/batches", self._anthropic_create)
        app.router.add_get("/v1/messages/batches/{id}", self._anthropic_retrieve)
        app.router.add_get("/v1/messages/batches/{id}/results", self._anthropic_results)

    # ------------------------------------------------------------------ OpenAI
    def _refusal(self, reply: Any = None) -> web.Response | None:
        reply = reply or self.refuse_with
        if reply is None:
            return None
        return web.Response(status=reply.status, text=reply.text(), content_type="application/json")

    async def _upload(self, request: web.Request) -> web.Response:
        refused = self._refusal()
        if refused is not None:
            return refused
        form = await request.post()
        upload = form["file"]
        data = upload.file.read()
        file_id = f"file-{uuid.uuid4().hex[:20]}"
        self.files[file_id] = data
        return web.json_response({"id": file_id, "object": "file", "bytes": len(data),
                                  "created_at": int(time.time()), "filename": upload.filename,
                                  "purpose": form.get("purpose", "batch"), "status": "processed"})

    async def _file_content(self, request: web.Request) -> web.Response:
        if self.results_fault is not None:
            return self._refusal(self.results_fault)
        data = self.files.get(request.match_info["id"])
        if data is None:
            raise web.HTTPNotFound(text=json.dumps({"error": {"message": "no such file"}}),
                                   content_type="application/json")
        return web.Response(body=data, content_type="application/octet-stream")

    async def _openai_create(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("input_file_id") not in self.files or body.get("endpoint") != "/v1/chat/completions":
            raise web.HTTPBadRequest(text=json.dumps({"error": {"message": "bad batch request"}}),
                                     content_type="application/json")
        batch_id = f"batch_{uuid.uuid4().hex[:20]}"
        lines = self.files[body["input_file_id"]].decode().splitlines()
        self.openai[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": body["endpoint"],
            "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
            "status": "in_progress", "created_at": int(time.time()),
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0}}
        self.created.append(batch_id)
        asyncio.get_running_loop().create_task(self._openai_process(batch_id, lines))
        return web.json_response(self.openai[batch_id])

    async def _openai_process(self, batch_id: str, lines: list[str]) -> None:
        await asyncio.sleep(self.server.batch_delay_s)
        out, errors = [], []
        for line in lines:
            task = json.loads(line)
            try:
                reply = await self.server.openai_completion(task["body"])
                out.append({"id": f"batch_req_{uuid.uuid4().hex[:12]}",
                            "custom_id": task["custom_id"], "error": None,
                            "response": {"status_code": 200, "request_id": "req_b",
                                         "body": reply}})
            except _policy_fault() as fault:
                errors.append({"id": f"batch_req_{uuid.uuid4().hex[:12]}",
                               "custom_id": task["custom_id"], "response": None,
                               "error": {"code": str(fault.status), "message": "policy fault"}})
            except _raw_line() as raw:
                reply = raw.reply
                if isinstance(reply.body, (str, bytes)):
                    out.append(reply.text())  # the whole output line, verbatim
                else:
                    out.append({"id": f"batch_req_{uuid.uuid4().hex[:12]}",
                                "custom_id": task["custom_id"], "error": None,
                                "response": {"status_code": reply.status, "request_id": "req_b",
                                             "body": reply.body}})
        batch = self.openai[batch_id]
        batch["output_file_id"] = self._store_file(out)
        batch["error_file_id"] = self._store_file(errors) if errors else None
        batch["request_counts"].update(completed=len(out), failed=len(errors))
        batch.update(status="completed", completed_at=int(time.time()))

    async def _openai_retrieve(self, request: web.Request) -> web.Response:
        batch = self.openai.get(request.match_info["id"])
        if batch is None:
            raise web.HTTPNotFound(text=json.dumps({"error": {"message": "no such batch"}}),
                                   content_type="application/json")
        return web.json_response(batch)

    def _store_file(self, rows: list[dict[str, Any]]) -> str:
        file_id = f"file-{uuid.uuid4().hex[:20]}"
        self.files[file_id] = "".join((row if isinstance(row, str) else json.dumps(row)) + "\n"
                                      for row in rows).encode()
        return file_id

    # ------------------------------------------------------------------ Anthropic
    async def _anthropic_create(self, request: web.Request) -> web.Response:
        refused = self._refusal()
        if refused is not None:
            return refused
        body = await request.json()
        batch_id = f"msgbatch_{uuid.uuid4().hex[:20]}"
        now = datetime.now(timezone.utc)
        self.anthropic[batch_id] = {
            "id": batch_id, "type": "message_batch", "processing_status": "in_progress",
            "request_counts": {"processing": len(body["requests"]), "succeeded": 0, "errored": 0,
                               "canceled": 0, "expired": 0},
            "created_at": now.isoformat(), "expires_at": (now + timedelta(days=1)).isoformat(),
            "ended_at": None, "cancel_initiated_at": None, "archived_at": None,
            "results_url": None}
        self.created.append(batch_id)
        asyncio.get_running_loop().create_task(self._anthropic_process(batch_id, body["requests"]))
        return web.json_response(self.anthropic[batch_id])

    async def _anthropic_process(self, batch_id: str, requests: list[dict[str, Any]]) -> None:
        await asyncio.sleep(self.server.batch_delay_s)
        rows, counts = [], {"succeeded": 0, "errored": 0}
        for entry in requests:
            try:
                message = await self.server.anthropic_message(entry["params"])
                result = {"type": "succeeded", "message": message}
                counts["succeeded"] += 1
            except _policy_fault():
                result = {"type": "errored", "error": {"type": "error", "error": {
                    "type": "api_error", "message": "policy fault"}}}
                counts["errored"] += 1
            except _raw_line() as raw:
                result = {"type": "succeeded", "message": raw.reply.body}
                counts["succeeded"] += 1
            rows.append({"custom_id": entry["custom_id"], "result": result})
        self.results[batch_id] = "".join(json.dumps(row) + "\n" for row in rows).encode()
        batch = self.anthropic[batch_id]
        batch["request_counts"].update(processing=0, **counts)
        batch.update(processing_status="ended", ended_at=datetime.now(timezone.utc).isoformat(),
                     results_url=f"{self.server.base_url}/v1/messages/batches/{batch_id}/results")

    async def _anthropic_retrieve(self, request: web.Request) -> web.Response:
        batch = self.anthropic.get(request.match_info["id"])
        if batch is None:
            raise web.HTTPNotFound(text=json.dumps({"type": "error", "error": {
                "type": "not_found_error", "message": "no such batch"}}),
                content_type="application/json")
        return web.json_response(batch)

    async def _anthropic_results(self, request: web.Request) -> web.Response:
        if self.results_fault is not None:
            return self._refusal(self.results_fault)
        data = self.results.get(request.match_info["id"])
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="application/binary")


def _raw_line() -> type[Exception]:
    from provider_server import RawLine

    return RawLine


def _policy_fault() -> type[Exception]:
    from provider_server import PolicyFault

    return PolicyFault
