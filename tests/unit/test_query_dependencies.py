"""The read routes' dependencies run on the event loop: FastAPI runs a plain `def` (or a class) in its thread pool,
a hand-off per dependency per request that cost the timeline's readers a fifth of the service's CPU."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, get_args

from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute

from services.query import analyst_routes, domain_routes, routes
from services.query.api import api_router
from services.query.dependencies import Connection, Read, read_position


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """The dependency's own callable, then its dependencies', recursively."""
    assert dependant.call is not None
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _on_the_loop(call: Callable[..., Any]) -> bool:
    called = call if inspect.isroutine(call) or inspect.isclass(call) else type(call).__call__  # a callable object
    return inspect.iscoroutinefunction(called) or inspect.isasyncgenfunction(called)


def test_no_read_route_dependency_runs_in_the_thread_pool() -> None:
    reads = [route for module in (routes, domain_routes, analyst_routes) for route in module.router.routes]
    dependencies = [
        (route.path, dependency)
        for route in reads
        if isinstance(route, APIRoute)
        for dependency in route.dependant.dependencies
    ] + [("every read", get_dependant(path="", call=d.dependency)) for d in api_router.dependencies if d.dependency]
    in_the_pool = {
        f"{path}: {getattr(call, '__qualname__', call)}"
        for path, dependency in dependencies
        for call in _calls(dependency)
        if not _on_the_loop(call)
    }

    assert len(reads) >= 15 and len(dependencies) > len(reads)
    assert sorted(in_the_pool) == []


def test_the_hot_reads_read_their_position_with_their_page() -> None:
    """The timeline and /v1/events read X-Position in the same round trip as their page: neither reads it, nor takes
    its connection, through a dependency (each a statement or a level of dependencies more per request)."""
    hot = [(routes.router, "/incidents/{incident_id}/timeline"), (analyst_routes.router, "/events")]
    connection = get_args(Connection)[1].dependency
    for router, path in hot:
        route = next(r for r in router.routes if isinstance(r, APIRoute) and r.path == path)
        calls = {call for dependency in route.dependant.dependencies for call in _calls(dependency)}
        calls |= {d.dependency for d in api_router.dependencies if d.dependency}  # added to every route
        assert read_position not in calls and connection not in calls, path


def test_every_read_route_answers_its_position() -> None:
    """X-Position on every answer: no router-wide dependency reads it any more (the hot reads read it with their
    page), so each route must take `Read`, `Position` or `dependencies=POSITIONED`; a new route without one fails."""
    reading = get_args(Read)[1].dependency
    reads = [route for module in (routes, domain_routes, analyst_routes) for route in module.router.routes]
    unpositioned = [
        route.path
        for route in reads
        if isinstance(route, APIRoute)
        and not {read_position, reading} & {call for d in route.dependant.dependencies for call in _calls(d)}
    ]

    assert len(reads) >= 15 and unpositioned == []
