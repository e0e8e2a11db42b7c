"""The docs stay true to the code: every route, `crisis` command, CRISIS_ setting and runtime dependency is
documented, and every relative link in README.md and docs/ resolves.

No servers: the apps are built (their OpenAPI documents need no connection), never started. Each check returns
what is missing, with where it belongs, so a failure says what to write and in which file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
from fastapi import FastAPI
from pydantic import SecretStr
from typer.core import TyperGroup

from services.cli import app as cli_app
from services.common.settings import Settings
from services.ingest.app import create_app as create_ingest
from services.query.app import create_app as create_query

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
DEVELOPMENT = DOCS / "development.md"

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def all_docs() -> str:
    return "\n".join(page.read_text() for page in pages())


def mentions(text: str, term: str) -> bool:
    """`term` as a whole: `GET /v1/incidents` is not found inside `GET /v1/incidents/{incident_id}`."""
    return re.search(re.escape(term) + r"(?![\w/{-]|\.\w)", text) is not None


def routes() -> Iterator[tuple[str, str]]:
    """(service, "METHOD /path") for every operation of both OpenAPI documents."""
    settings = Settings(  # never connected to: building an app opens nothing
        api_tokens=SecretStr("docs:" + "x" * 20), database_url="postgresql://docs@127.0.0.1:9/docs"
    )
    apps: dict[str, FastAPI] = {"ingest": create_ingest(settings), "query": create_query(settings)}
    for service, app in apps.items():
        for path, operations in app.openapi()["paths"].items():
            for method in operations:
                yield service, f"{method.upper()} {path}"


def commands(group: TyperGroup, prefix: str = "crisis") -> Iterator[str]:
    """`crisis <command>` and `crisis <group> <command>` for the whole typer app."""
    for name, command in group.commands.items():
        yield f"{prefix} {name}"
        if isinstance(command, TyperGroup):
            yield from commands(command, f"{prefix} {name}")


def environment_settings() -> list[str]:
    return [f"CRISIS_{name.upper()}" for name in Settings.model_fields]


def runtime_dependencies() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [canonical(requirement) for requirement in project["dependencies"]]


def canonical(requirement: str) -> str:
    """A distribution's name without extras or version, as pip compares names."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement.strip().strip("`"))
    assert match, f"not a requirement: {requirement!r}"
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def dependency_table(text: str) -> set[str]:
    """The packages named in the first column of the `| package | for |` table."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"\|\s*package\s*\|", line)), None)
    if start is None:
        return set()
    names: set[str] = set()
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        names.update(canonical(name) for name in line.split("|")[1].split(",") if name.strip())
    return names


def undocumented_routes(text: str) -> list[str]:
    return [
        f"{service} route `{route}` is in neither README.md nor docs/: add it to docs/http-api.md's route table"
        for service, route in routes()
        if not mentions(text, route)
    ]


def undocumented_commands(text: str) -> list[str]:
    group = typer.main.get_command(cli_app)
    assert isinstance(group, TyperGroup)
    return [
        f"`{command}` is in neither README.md nor docs/: add it to docs/operations.md's operator commands"
        for command in commands(group)
        if not mentions(text, command)
    ]


def undocumented_settings(text: str) -> list[str]:
    return [
        f"`{variable}` (a Settings field) is not in docs/configuration.md: add a row with its default and meaning"
        for variable in environment_settings()
        if not mentions(text, variable)
    ]


def undocumented_dependencies(text: str) -> list[str]:
    table = dependency_table(text)
    return [
        f"runtime dependency `{name}` (pyproject.toml) is not in docs/development.md's dependency table: "
        "add a row saying what it is for"
        for name in runtime_dependencies()
        if name not in table
    ]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", FENCE.sub("", page.read_text()), re.MULTILINE):
        base = anchor = slug(heading)
        repeat = 0
        while anchor in found:  # GitHub numbers repeated headings: name, name-1, name-2
            repeat += 1
            anchor = f"{base}-{repeat}"
        found.add(anchor)
    return found


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if SCHEME.match(target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        where = f"{shown(page)}: link `{target}`"
        if not linked.exists():
            broken.append(f"{where}: there is no {shown(linked)}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{where}: {shown(linked)} has no heading with the anchor #{anchor}")
    return broken


def report(missing: list[str]) -> str:
    return "the docs have drifted from the code:\n" + "\n".join(missing)


def test_every_route_of_both_apis_is_documented() -> None:
    assert not (missing := undocumented_routes(all_docs())), report(missing)


def test_every_crisis_command_is_documented() -> None:
    assert not (missing := undocumented_commands(all_docs())), report(missing)


def test_every_setting_is_in_the_configuration_table() -> None:
    assert not (missing := undocumented_settings(CONFIGURATION.read_text())), report(missing)


def test_every_runtime_dependency_is_in_the_dependency_table() -> None:
    assert not (missing := undocumented_dependencies(DEVELOPMENT.read_text())), report(missing)


@pytest.mark.parametrize("page", pages(), ids=shown)
def test_every_relative_link_resolves(page: Path) -> None:
    assert not (broken := broken_links(page)), report(broken)


# A URL curl is given in quotes: curl sends it as it is, and an HTTP server refuses a request line with a space or
# a byte outside printable ASCII (uvicorn answers 400 before the app sees it). Such words go in --data-urlencode.
CURL_URL = re.compile(r"curl [^\n]*?'((?:https?://)?localhost[^']*)'")


def unsendable_curl_urls(text: str) -> list[str]:
    return [url for url in CURL_URL.findall(text) if not re.fullmatch(r"[\x21-\x7e]+", url)]


@pytest.mark.parametrize("page", pages(), ids=shown)
def test_every_curl_example_sends_a_valid_request_line(page: Path) -> None:
    assert unsendable_curl_urls(page.read_text()) == [], (
        "percent-encode them, or pass the words with -G --data-urlencode"
    )


def test_each_check_names_what_a_page_lost_and_where_it_goes(tmp_path: Path) -> None:
    """The checks above would catch a removal: one item cut from the real text is reported, with its home."""
    docs, configuration, development = all_docs(), CONFIGURATION.read_text(), DEVELOPMENT.read_text()
    assert undocumented_routes(docs.replace("GET /v1/incidents/{incident_id}/casualties", "")) == [
        "query route `GET /v1/incidents/{incident_id}/casualties` is in neither README.md nor docs/: "
        "add it to docs/http-api.md's route table"
    ]
    assert undocumented_commands(docs.replace("crisis dead-letters discard", "")) == [
        "`crisis dead-letters discard` is in neither README.md nor docs/: add it to docs/operations.md's operator "
        "commands"
    ]
    assert undocumented_settings(configuration.replace("CRISIS_API_TOKENS`", "`")) == [
        "`CRISIS_API_TOKENS` (a Settings field) is not in docs/configuration.md: add a row with its default and meaning"
    ]
    assert undocumented_dependencies(development.replace("| certifi |", "| |")) == [
        "runtime dependency `certifi` (pyproject.toml) is not in docs/development.md's dependency table: "
        "add a row saying what it is for"
    ]
    assert unsendable_curl_urls("curl -s 'localhost:8002/v1/events?q=tear gas'\ncurl -s 'localhost:8002/v1/a?b=c'") == [
        "localhost:8002/v1/events?q=tear gas"
    ]
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n[ok](#page) [gone](#nowhere) [also gone](missing.md)\n\n```\n# not a heading\n```\n")
    assert broken_links(page) == [
        f"{page}: link `#nowhere`: {page} has no heading with the anchor #nowhere",
        f"{page}: link `missing.md`: there is no {tmp_path / 'missing.md'}",
    ]
