"""The projector's HTTP port (open to whoever reaches it) serves probes and figures only: nothing to read or write."""

from pathlib import Path

from fastapi.routing import APIRoute

from services.common.settings import Settings
from services.projector.app import create_app

DOCUMENTS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def test_the_projector_serves_only_probes_and_metrics(tmp_path: Path) -> None:
    settings = Settings(nats_url="nats://127.0.0.1:1", database_url="postgresql://x@127.0.0.1:1/x", data_dir=tmp_path)
    app = create_app(settings)  # no connection is opened before the lifespan starts
    routes = [route for route in app.routes if getattr(route, "path", None) not in DOCUMENTS]
    assert {route.path for route in routes if isinstance(route, APIRoute)} == {"/healthz", "/readyz", "/metrics"}
    assert all(isinstance(route, APIRoute) and route.methods == {"GET"} for route in routes)
