"""The generated services/logs.py: JSON lines, redaction at any depth, request ids."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from generated_projects import RenderComponent


@pytest.fixture(autouse=True)
def logging_restored() -> Iterator[None]:
    """setup_logging reconfigures the process: give the next test what it had."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


def wired_app(logs: Any) -> FastAPI:
    app = FastAPI()
    log = logs.get_logger("orders")

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> dict[str, int]:
        log.info("order read", order_id=order_id, password="hunter2",
                 user={"name": "ann", "api_key": "k-1", "cards": [{"cvv": "123"}]})
        logging.getLogger("uvicorn.error").warning("from the standard library, token=%s", "t")
        return {"id": order_id}

    app.add_middleware(logs.RequestIdMiddleware)
    logs.setup_logging(app)
    return app


def call(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/orders/7", headers=headers or {})

    return asyncio.run(go())


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_with_secrets_redacted_and_the_request_id(
    render_component: RenderComponent, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = render_component("logging", {"LOG_FORMAT": "json", "SERVICE_NAME": "orders-api",
                                        "LOG_REDACT_KEYS": "name"}).module("logs")
    app = wired_app(logs)
    capsys.readouterr()
    response = call(app)
    lines = json_lines(capsys.readouterr().out)
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32
    ours = next(line for line in lines if line["event"] == "order read")
    assert ours["password"] == "[REDACTED]"
    assert ours["user"] == {"name": "[REDACTED]", "api_key": "[REDACTED]", "cards": [{"cvv": "[REDACTED]"}]}
    assert ours["order_id"] == 7 and ours["level"] == "info" and ours["service"] == "orders-api"
    stdlib = next(line for line in lines if line["logger"] == "uvicorn.error")
    assert stdlib["event"] == "from the standard library, token=t" and stdlib["level"] == "warning"
    # every line written while serving the request carries its id (httpx logs the
    # client's side, after the response)
    served = [line for line in lines if line.get("logger") != "httpx"]
    assert len(served) == 2 and {line.get("request_id") for line in served} == {request_id}
    assert "hunter2" not in json.dumps(lines) and "k-1" not in json.dumps(lines)


def test_a_well_formed_incoming_id_is_kept_and_a_forged_one_replaced(
    render_component: RenderComponent, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = render_component("logging", {"LOG_FORMAT": "json"}).module("logs")
    app = wired_app(logs)
    assert call(app, {"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    forged = call(app, {"X-Request-ID": 'x" injected="1'}).headers["x-request-id"]
    assert forged != 'x" injected="1' and len(forged) == 32
    capsys.readouterr()


def test_console_format_and_a_bad_level(
    render_component: RenderComponent, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    logs = render_component("logging", {"LOG_FORMAT": "console", "LOG_LEVEL": "warning"}).module("logs")
    app = wired_app(logs)
    capsys.readouterr()
    call(app)
    out = capsys.readouterr().out
    assert "order read" not in out  # below WARNING
    assert "from the standard library" in out and not out.lstrip().startswith("{")
    settings = __import__("settings").settings
    monkeypatch.setattr(settings, "log_level", "LOUD")
    with pytest.raises(ValueError, match="LOG_LEVEL='LOUD'"):
        logs.setup_logging()
