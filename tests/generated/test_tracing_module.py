"""The generated services/tracing.py: spans of a FastAPI app, exported to a real OTLP/gRPC receiver."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from fastapi import FastAPI
from generated_projects import RenderComponent
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util._once import Once


@dataclass
class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace endpoint that keeps what it is sent."""

    endpoint: str = ""
    requests: list[trace_service_pb2.ExportTraceServiceRequest] = field(default_factory=list)

    def Export(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[tuple[dict[str, str], ProtoSpan]]:
        """(resource attributes, span) for every span received."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    found += [(attributes, span) for span in scope_spans.spans]
        return found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    received = Receiver()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(received, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    received.endpoint = f"http://127.0.0.1:{port}"
    try:
        yield received
    finally:
        server.stop(grace=None)


def _reset_global_tracer_provider() -> None:
    # OpenTelemetry lets a process set its tracer provider once; its own test
    # utilities reset these module globals the same way between tests.
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@pytest.fixture(autouse=True)
def fresh_tracer_provider() -> Iterator[None]:
    _reset_global_tracer_provider()
    yield
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()
    _reset_global_tracer_provider()


def make_app(tracing: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        with tracing.get_tracer(__name__).start_as_current_span("load_item") as span:
            span.set_attribute("item.id", item_id)
        return {"item_id": item_id}

    return app


def get(app: FastAPI, path: str) -> int:
    async def scenario() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return (await http.get(path)).status_code

    return asyncio.run(scenario())


def test_spans_go_to_the_configured_otlp_endpoint(
    render_component: RenderComponent, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"OTEL_SERVICE_NAME": "orders-api", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
    tracing = render_component("metrics", env).module("tracing")
    app = make_app(tracing)
    with caplog.at_level(logging.WARNING):
        provider: TracerProvider = tracing.setup_tracing(app)
    # no complaints from the instrumentation about libraries the project lacks (other
    # loggers are not this test's: an earlier test's garbage may be collected here)
    assert [r for r in caplog.records if r.name.startswith("opentelemetry")] == []
    assert trace.get_tracer_provider() is provider

    assert get(app, "/items/42") == 200
    assert provider.force_flush(timeout_millis=10_000)

    spans = receiver.spans()
    servers = [(res, s) for res, s in spans if s.kind == ProtoSpan.SpanKind.SPAN_KIND_SERVER]
    assert len(servers) == 1
    resource, server = servers[0]
    assert resource["service.name"] == "orders-api"
    assert server.name == "GET /items/{item_id}"
    custom = [s for _, s in spans if s.name == "load_item"]
    assert len(custom) == 1
    assert custom[0].parent_span_id == server.span_id
    assert custom[0].trace_id == server.trace_id


def test_service_name_and_endpoint_come_from_the_settings_object(
    render_component: RenderComponent, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not the OTEL_* variables themselves: a settings class may use a prefix or a .env file."""
    env = {"OTEL_SERVICE_NAME": "from-env", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    project = render_component("metrics", env)
    settings = __import__("settings").settings
    monkeypatch.setattr(settings, "otel_service_name", "from-settings")
    monkeypatch.setattr(settings, "otel_exporter_otlp_endpoint", receiver.endpoint)
    tracing = project.module("tracing")
    app = make_app(tracing)
    provider = tracing.setup_tracing(app)
    assert get(app, "/items/1") == 200
    assert provider.force_flush(timeout_millis=10_000)
    assert {res["service.name"] for res, _ in receiver.spans()} == {"from-settings"}


def test_an_installed_sdk_provider_is_used_as_it_is(
    render_component: RenderComponent, receiver: Receiver
) -> None:
    env = {"OTEL_SERVICE_NAME": "billing", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
    tracing = render_component("metrics", env).module("tracing")
    # As a test suite (or `opentelemetry-instrument`) would do before the app starts;
    # Resource.create() takes service.name from OTEL_SERVICE_NAME.
    exporter = InMemorySpanExporter()
    installed = TracerProvider(resource=Resource.create())
    installed.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(installed)

    app = make_app(tracing)
    assert tracing.setup_tracing(app) is installed
    assert trace.get_tracer_provider() is installed
    assert get(app, "/items/7") == 200

    servers = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert len(servers) == 1
    assert servers[0].resource.attributes["service.name"] == "billing"
    assert servers[0].attributes is not None
    assert servers[0].attributes["http.route"] == "/items/{item_id}"
    installed.force_flush()
    assert receiver.requests == []  # no second exporter was added behind its back


def test_a_span_processor_replaces_the_exporter(
    render_component: RenderComponent, receiver: Receiver
) -> None:
    env = {"OTEL_SERVICE_NAME": "catalog", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
    tracing = render_component("metrics", env).module("tracing")
    exporter = InMemorySpanExporter()
    app = make_app(tracing)
    provider = tracing.setup_tracing(app, span_processor=SimpleSpanProcessor(exporter))
    assert get(app, "/items/3") == 200
    provider.force_flush()
    servers = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert [s.resource.attributes["service.name"] for s in servers] == ["catalog"]
    assert receiver.requests == []


def test_a_second_setup_exports_each_span_once(
    render_component: RenderComponent, receiver: Receiver
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
    tracing = render_component("metrics", env).module("tracing")
    first, second = make_app(tracing), make_app(tracing)
    provider = tracing.setup_tracing(first)
    assert tracing.setup_tracing(second) is provider
    assert get(second, "/items/5") == 200
    assert provider.force_flush(timeout_millis=10_000)
    servers = [(res, s) for res, s in receiver.spans() if s.kind == ProtoSpan.SpanKind.SPAN_KIND_SERVER]
    assert len(servers) == 1
    assert servers[0][0]["service.name"] == "myapp"  # the bundle's default


def test_a_library_release_the_instrumentation_does_not_support_gets_one_warning(
    render_component: RenderComponent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from packaging.requirements import Requirement

    instrumentor = SQLAlchemyInstrumentor()
    [wanted] = [Requirement(d) for d in instrumentor.instrumentation_dependencies()]
    if wanted.specifier.contains("99.0.0"):
        pytest.skip(f"this instrumentation release accepts any SQLAlchemy ({wanted})")
    if instrumentor.is_instrumented_by_opentelemetry:  # by an earlier test of this process
        instrumentor.uninstrument()
    # the installed metadata says SQLAlchemy 99.0.0: newer than the instrumentation allows
    dist = tmp_path / "sqlalchemy-99.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: SQLAlchemy\nVersion: 99.0.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    tracing = render_component("metrics", {}).module("tracing")
    with caplog.at_level(logging.WARNING):
        tracing.setup_tracing(make_app(tracing))
    assert [r for r in caplog.records if r.name.startswith("opentelemetry")] == []
    ours = [r.getMessage() for r in caplog.records if r.name == tracing.__name__]
    assert len(ours) == 1 and ours[0].startswith("not tracing sqlalchemy calls: "), ours
    assert "99.0.0" in ours[0]
    assert not instrumentor.is_instrumented_by_opentelemetry
