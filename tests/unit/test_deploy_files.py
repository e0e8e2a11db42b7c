"""The deployment files under deploy/: YAML that parses, a compose file and manifests that hang together, and NATS
configs that the real nats-server accepts (`nats-server -c FILE -t`).

No Docker engine or Kubernetes cluster is needed: these are static checks. tests/integration/test_nats_cluster.py
starts the NATS configs for real.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import TypeAdapter

from services.common.nats_users import USERS, authorization_block, password_variable
from services.common.service_roles import SERVICE_ROLES
from services.common.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
NATS = DEPLOY / "nats"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
NATS_SERVER = Path(sys.executable).parent / "nats-server"

SERVICES = ("ingest", "projector", "query")
SERVICE_PORTS = {"ingest": 8001, "query": 8002, "projector": 8003}
ENTRY_MODULES = {"ingest": "services.ingest.app", "projector": "services.projector.app", "query": "services.query.app"}
# The settings that hold a credential: the SecretStr fields, and the database URL (it carries the role's password).
SECRET_SETTINGS = {
    f"CRISIS_{name.upper()}" for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
} | {"CRISIS_DATABASE_URL"}
K8S_FILES = {
    "namespace.yaml",
    "configmap.yaml",
    "secret.yaml",
    "migrate.yaml",
    "ingest.yaml",
    "projector.yaml",
    "query.yaml",
    "nats.yaml",
    "kustomization.yaml",
}
CLUSTER_CONFIGS = [NATS / f"cluster-node{n}.conf" for n in (1, 2, 3)]
SECURE_CONF = NATS / "secure.conf"
NATS_PASSWORDS = {password_variable(user): f"test-password-of-{user}" for user in USERS}
NATS_CONFIGS = [NATS / "single.conf", *CLUSTER_CONFIGS]

YAML_FILES = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])


def load_all(path: Path) -> list[Any]:
    with path.open() as f:
        return list(yaml.safe_load_all(f))


def load_one(path: Path) -> dict[str, Any]:
    docs = load_all(path)
    assert len(docs) == 1 and isinstance(docs[0], dict), f"{path.name}: want one mapping"
    doc: dict[str, Any] = docs[0]
    return doc


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    """(file name, document) for every document of every manifest, the kustomization included."""
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in load_all(path):
            assert isinstance(doc, dict), f"{path.name}: every document is a mapping, got {doc!r}"
            found.append((path.name, doc))
    return found


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in k8s_documents() if doc["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    matches = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"want one {kind} {name}, found {len(matches)}"
    return matches[0]


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = load_one(COMPOSE)["services"]
    return services


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's environment, in either of its two forms (mapping, or list of KEY=VALUE)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (str(item).partition("=") for item in env)
        return {key: value for key, _, value in pairs}
    return {str(k): str(v) for k, v in env.items()}


def run_config_test(config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NATS_SERVER), "-c", str(config), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )


def nats_setting(text: str, key: str) -> list[str]:
    """Every value of `key` in a NATS config (comments aside), quotes removed."""
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*[:=]\s*\"?([^\"\n]*?)\"?\s*$", re.MULTILINE)
    return pattern.findall(strip_comments(text))


def strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def k8s_nats_conf() -> str:
    conf: str = named("ConfigMap", "nats-config")["data"]["nats.conf"]
    return conf


# --- What a service reads, from its code: the manifests are held to it -----------------------------------------


def module_source(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    return next((path for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file()), None)


def imported_modules(module: str) -> set[str]:
    """The project's modules that `module` imports (at its top or inside a function), with their packages."""
    source = module_source(module)
    assert source is not None, module
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` names a module too; names that are not modules are dropped below.
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    packages = {".".join(name.split(".")[:depth]) for name in names for depth in range(1, name.count(".") + 2)}
    return {name for name in packages if name.partition(".")[0] == "services" and module_source(name)}


@functools.cache
def settings_read_by(entry: str) -> frozenset[str]:
    """The CRISIS_ settings that `entry`, or a module it imports however indirectly, reads (`settings.<field>`)."""
    seen: set[str] = set()
    todo = [entry]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(imported_modules(module))
    code = "\n".join(path.read_text() for path in map(module_source, seen) if path is not None)
    fields = set(re.findall(r"settings\.(\w+)", code))
    return frozenset(f"CRISIS_{field.upper()}" for field in fields & set(Settings.model_fields))


def pod_containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container of a workload's pods, init containers included."""
    pod = workload["spec"]["template"]["spec"]
    found: list[dict[str, Any]] = [*pod.get("initContainers", []), *pod["containers"]]
    return found


def workloads() -> list[dict[str, Any]]:
    return [doc for _, doc in k8s_documents() if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")]


def secret_sources(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Every environment variable a container takes from a Secret: variable -> (Secret, key)."""
    found: dict[str, tuple[str, str]] = {}
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            secret = source["secretRef"]["name"]
            found |= {key: (secret, key) for key in named("Secret", secret)["stringData"]}
    for item in container.get("env", []):
        reference = item.get("valueFrom", {}).get("secretKeyRef")
        if reference:
            found[item["name"]] = (reference["name"], reference["key"])
    return found


def plain_settings(container: dict[str, Any]) -> dict[str, str]:
    """The variables a container takes from ConfigMaps and literal values."""
    found: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            found |= named("ConfigMap", source["configMapRef"]["name"])["data"]
    found |= {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}
    return found


def secret_value(source: tuple[str, str]) -> str:
    secret, key = source
    value: str = named("Secret", secret)["stringData"][key]
    return value


def credentials_needed(name: str, container: dict[str, Any]) -> set[str]:
    """The credentials the service's code reads, less the alternatives its container does not take."""
    needed = set(settings_read_by(ENTRY_MODULES[name]) & SECRET_SETTINGS)
    plain = plain_settings(container)
    if "CRISIS_NATS_USER" in plain:
        needed.discard("CRISIS_NATS_TOKEN")  # services/common/nats_auth.py: a user and password, or a token
    query_public = plain.get("CRISIS_QUERY_PUBLIC", Settings.model_fields["query_public"].default)
    if name == "query" and TypeAdapter(bool).validate_python(query_public):
        needed.discard("CRISIS_API_TOKENS")  # services/query/access.py: a public query service loads no tokens
    return needed


# --- YAML: everything parses; every Kubernetes document says what it is -------------------------------------


def test_the_expected_files_exist() -> None:
    assert COMPOSE.is_file() and DOCKERFILE.is_file() and (DEPLOY / "README.md").is_file()
    assert {p.name for p in K8S.glob("*.yaml")} == K8S_FILES
    for config in NATS_CONFIGS:
        assert config.is_file(), config


@pytest.mark.parametrize("path", YAML_FILES, ids=[str(p.relative_to(DEPLOY)) for p in YAML_FILES])
def test_every_yaml_file_parses(path: Path) -> None:
    docs = load_all(path)
    assert docs and all(doc is not None for doc in docs), f"{path.name}: an empty document"


def test_every_k8s_document_has_api_version_kind_and_name() -> None:
    docs = k8s_documents()
    assert docs
    for file, doc in docs:
        for key in ("apiVersion", "kind"):
            assert isinstance(doc.get(key), str) and doc[key], f"{file}: {doc.get('kind')} without {key}"
        metadata = doc.get("metadata")
        assert isinstance(metadata, dict), f"{file}: {doc['kind']} without metadata"
        assert isinstance(metadata.get("name"), str) and metadata["name"], f"{file}: {doc['kind']} without a name"


def test_every_namespaced_k8s_object_is_in_the_crisis_namespace() -> None:
    for file, doc in k8s_documents():
        if doc["kind"] in ("Namespace", "Kustomization"):
            continue
        assert doc["metadata"].get("namespace") == "crisis", f"{file}: {doc['kind']} {doc['metadata']['name']}"
    assert named("Namespace", "crisis")


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = load_one(K8S / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["namespace"] == "crisis"
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources))
    assert set(resources) == K8S_FILES - {"kustomization.yaml"}
    images = {image["name"] for image in kustomization.get("images", [])}
    for deployment in of_kind("Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            if container["image"].partition(":")[0] == "crisis":
                assert "crisis" in images


# --- compose ------------------------------------------------------------------------------------------------


def test_compose_has_every_service() -> None:
    assert {"nats", "postgres", "migrate", *SERVICES} <= set(compose_services())


@pytest.mark.parametrize("name", SERVICES)
def test_compose_services_get_the_server_urls_they_read(name: str) -> None:
    env = environment(compose_services()[name])
    assert env["CRISIS_NATS_URL"].startswith("nats://nats:")
    assert env.get("CRISIS_HOST") == "0.0.0.0", "in a container the services must listen on every interface"
    if "CRISIS_DATABASE_URL" in settings_read_by(ENTRY_MODULES[name]):
        url = urlsplit(env["CRISIS_DATABASE_URL"])
        assert (url.hostname, url.username) == ("postgres", SERVICE_ROLES[name].user)
    else:
        assert "CRISIS_DATABASE_URL" not in env, f"{name} never reads the database: it gets no URL"


def test_compose_migrate_alone_logs_in_as_the_database_owner() -> None:
    service_users = {role.user for role in SERVICE_ROLES.values()}
    urls = {name: environment(service).get("CRISIS_DATABASE_URL") for name, service in compose_services().items()}
    owners = [name for name, url in urls.items() if url and urlsplit(url).username not in service_users]
    assert owners == ["migrate"]


def test_compose_ingest_needs_api_tokens_and_the_event_id_secret() -> None:
    assert {"CRISIS_API_TOKENS", "CRISIS_EVENT_ID_SECRET"} <= set(environment(compose_services()["ingest"]))


@pytest.mark.parametrize("name", [*SERVICES, "migrate"])
def test_compose_services_are_built_from_the_dockerfile(name: str) -> None:
    service = compose_services()[name]
    assert service["command"] == ["crisis", name]
    build = service["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == ROOT and (context / "pyproject.toml").is_file()
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def test_compose_publishes_the_http_ports() -> None:
    services = compose_services()
    assert "8001:8001" in services["ingest"]["ports"]
    assert "8002:8002" in services["query"]["ports"]
    for name in ("nats", "postgres"):
        # A local NATS or PostgreSQL may hold 4222 or 5432: never publish those on the host.
        assert "ports" not in services[name]


def test_compose_dependencies_exist_and_wait_for_health() -> None:
    services = compose_services()
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert spec["condition"] in conditions
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("projector", "query"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("ingest", "projector"):
        assert services[name]["depends_on"]["nats"]["condition"] == "service_healthy"


def test_compose_nats_runs_the_secure_config_on_a_named_volume() -> None:
    compose = load_one(COMPOSE)
    nats = compose["services"]["nats"]
    image, _, tag = nats["image"].partition(":")
    assert image == "nats"
    assert tuple(int(part) for part in re.findall(r"\d+", tag)[:2]) >= (2, 11)
    assert nats["command"] == ["-c", "/etc/nats/nats.conf"]
    mounts = {target.partition(":")[0]: source for source, _, target in (v.partition(":") for v in nats["volumes"])}
    assert (DEPLOY / mounts["/etc/nats/nats.conf"]).resolve() == SECURE_CONF
    store = nats_setting(SECURE_CONF.read_text(), "store_dir")
    assert store == ["/data"]
    assert mounts["/data"] in compose["volumes"]


def compose_variable(value: str) -> str:
    """The variable a compose value is interpolated from (`${NAME:?message}` -> NAME), or "" for a literal."""
    match = re.fullmatch(r"\$\{(\w+)(?::?[?-][^}]*)?\}", value)
    return match.group(1) if match else ""


def test_compose_nats_gets_every_users_password_from_the_environment() -> None:
    env = environment(compose_services()["nats"])
    assert {key: compose_variable(value) for key, value in env.items()} == {v: v for v in NATS_PASSWORDS}
    assert all(":?" in value for value in env.values()), "a missing password stops `docker compose up`"


@pytest.mark.parametrize("name", SERVICES)
def test_compose_services_connect_to_nats_as_their_own_user(name: str) -> None:
    env = environment(compose_services()[name])
    assert env.get("CRISIS_NATS_USER") == name
    nats_env = environment(compose_services()["nats"])
    # The service's password and the server's password for that user are the same variable.
    assert compose_variable(env["CRISIS_NATS_PASSWORD"]) == compose_variable(nats_env[password_variable(name)])


def test_compose_postgres_is_17_with_pg_isready_and_a_volume() -> None:
    compose = load_one(COMPOSE)
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:17"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].partition(":")[0]
    assert volume in compose["volumes"]


def test_compose_named_volumes_are_declared() -> None:
    compose = load_one(COMPOSE)
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.partition(":")[0]
            if source.startswith((".", "/")):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"


# --- Dockerfile -----------------------------------------------------------------------------------------------


def test_the_dockerfile_installs_the_package_as_a_non_root_user() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines() if line.strip()]
    instructions = [line for line in lines if not line.startswith("#")]
    assert instructions[0] == "FROM python:3.11-slim"
    assert any(line.startswith("RUN") and "pip install ." in line for line in instructions)
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1].partition(":")[0] not in ("root", "0")
    expose = {int(port) for line in instructions if line.startswith("EXPOSE ") for port in line.split()[1:]}
    assert {8001, 8002} <= expose
    assert instructions[-1] == 'CMD ["crisis", "query"]'
    for line in instructions:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"the build context has no {source}"


# --- Kubernetes ---------------------------------------------------------------------------------------------


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return found


def test_there_is_a_deployment_and_a_service_per_crisis_service() -> None:
    assert {d["metadata"]["name"] for d in of_kind("Deployment")} == set(SERVICES)
    for name in SERVICES:
        deployment = named("Deployment", name)
        service = named("Service", name)
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        assert service["spec"]["selector"].items() <= pod_labels.items()
        (container,) = containers(deployment)
        assert container["command"] == ["crisis", name]
        port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert port_names == {"http": SERVICE_PORTS[name]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names


def test_every_deployment_is_ready_on_readyz_and_alive_on_healthz() -> None:
    deployments = of_kind("Deployment")
    assert deployments
    for deployment in deployments:
        for container in containers(deployment):
            ports = {p["name"] for p in container["ports"]}
            readiness = container["readinessProbe"]["httpGet"]
            liveness = container["livenessProbe"]["httpGet"]
            assert readiness["path"] == "/readyz", deployment["metadata"]["name"]
            assert liveness["path"] == "/healthz", deployment["metadata"]["name"]
            assert {readiness["port"], liveness["port"]} <= ports


def test_every_deployment_has_resource_requests_and_limits() -> None:
    for deployment in of_kind("Deployment"):
        for container in containers(deployment):
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), deployment["metadata"]["name"]


def test_deployments_run_as_the_images_non_root_user() -> None:
    for deployment in of_kind("Deployment"):
        security = deployment["spec"]["template"]["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] != 0


def test_the_projector_runs_a_standby() -> None:
    assert named("Deployment", "projector")["spec"]["replicas"] == 2
    assert "standby" in (K8S / "projector.yaml").read_text()


def test_settings_come_from_the_configmap_and_secrets_hold_only_placeholders() -> None:
    config = named("ConfigMap", "crisis-config")["data"]
    for secret in of_kind("Secret"):
        values = secret["stringData"]
        assert not set(config) & set(values), secret["metadata"]["name"]
        assert all("REPLACE_ME" in value for value in values.values()), "the Secrets hold only placeholders"
    assert config["CRISIS_HOST"] == "0.0.0.0"
    assert config["CRISIS_NATS_URL"] == "nats://nats:4222"
    assert int(config["CRISIS_STREAM_REPLICAS"]) == named("StatefulSet", "nats")["spec"]["replicas"]
    for deployment in of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        (container,) = containers(deployment)
        assert plain_settings(container)["CRISIS_NATS_URL"] == config["CRISIS_NATS_URL"], name
        assert int(config[f"CRISIS_{name.upper()}_PORT"]) == SERVICE_PORTS[name]


@pytest.mark.parametrize("name", SERVICES)
def test_k8s_services_can_read_exactly_the_credentials_their_code_reads(name: str) -> None:
    deployment = named("Deployment", name)
    (container,) = containers(deployment)
    assert set(secret_sources(container)) == credentials_needed(name, container)
    # What a pod can read is its environment: a Secret mounted as files would escape the comparison above.
    for volume in deployment["spec"]["template"]["spec"].get("volumes", []):
        assert not {"secret", "projected"} & set(volume), volume["name"]


@pytest.mark.parametrize("name", sorted(SERVICE_ROLES))
def test_k8s_services_log_in_to_postgresql_as_their_own_role(name: str) -> None:
    (container,) = containers(named("Deployment", name))
    assert "CRISIS_DATABASE_URL" not in plain_settings(container), "the URL carries a password: from a Secret"
    url = urlsplit(secret_value(secret_sources(container)["CRISIS_DATABASE_URL"]))
    assert url.username == SERVICE_ROLES[name].user
    assert url.password, "the role's password is in the Secret"


def test_the_migrate_job_alone_holds_the_database_owners_url() -> None:
    job = named("Job", "migrate")
    (container,) = pod_containers(job)
    assert container["command"] == ["crisis", "migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
    assert job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    # `crisis migrate` wants both URLs before it looks for a running `crisis up`.
    assert "CRISIS_NATS_URL" in plain_settings(container)
    sources = secret_sources(container)
    assert set(sources) == {"CRISIS_DATABASE_URL"}
    owner_secret, _ = sources["CRISIS_DATABASE_URL"]
    owner = urlsplit(secret_value(sources["CRISIS_DATABASE_URL"])).username
    assert owner not in {role.user for role in SERVICE_ROLES.values()}
    for workload in workloads():
        if (workload["kind"], workload["metadata"]["name"]) == ("Job", "migrate"):
            continue
        for other in pod_containers(workload):
            for variable, (secret, key) in secret_sources(other).items():
                assert secret != owner_secret, f"{workload['metadata']['name']} reads the owner's Secret"
                if variable == "CRISIS_DATABASE_URL":
                    assert urlsplit(secret_value((secret, key))).username != owner, workload["metadata"]["name"]


def test_the_k8s_nats_is_a_three_node_statefulset_behind_its_services() -> None:
    statefulset = named("StatefulSet", "nats")
    spec = statefulset["spec"]
    assert spec["replicas"] == 3
    headless = named("Service", spec["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert named("Service", "nats")["spec"]["ports"][0]["port"] == 4222
    conf = k8s_nats_conf()
    routes = re.findall(r"nats-route://([\w.-]+):6222", conf)
    assert routes == [f"nats-{i}.{spec['serviceName']}" for i in range(3)]
    assert nats_setting(conf, "sync_interval") == ["always"]
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["-c", "/etc/nats/nats.conf"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["data"] == nats_setting(conf, "store_dir")[0] == "/data"
    assert mounts["config"] == "/etc/nats"


# --- NATS configs: accepted by the real server, with the settings `-t` cannot judge ------------------------


def test_nats_server_has_a_config_test_flag() -> None:
    out = subprocess.run([str(NATS_SERVER), "--help"], capture_output=True, text=True, timeout=30, check=False)
    assert re.search(r"^\s*-t\s+Test configuration and exit", out.stdout + out.stderr, re.MULTILINE)


@pytest.mark.parametrize("config", NATS_CONFIGS, ids=[c.name for c in NATS_CONFIGS])
def test_nats_server_accepts_the_config(config: Path) -> None:
    # `-t` parses and checks every key and value, without binding a port or touching store_dir.
    result = run_config_test(config)
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stderr


def test_nats_server_accepts_the_k8s_config(tmp_path: Path) -> None:
    config = tmp_path / "nats.conf"
    config.write_text(k8s_nats_conf())
    result = run_config_test(config, {"POD_NAME": "nats-0", **NATS_PASSWORDS})
    assert result.returncode == 0, result.stderr


def test_the_secure_config_is_accepted_with_every_password_and_refused_without_one() -> None:
    assert run_config_test(SECURE_CONF, NATS_PASSWORDS).returncode == 0
    result = run_config_test(
        SECURE_CONF, {k: v for k, v in NATS_PASSWORDS.items() if k != "CRISIS_NATS_QUERY_PASSWORD"}
    )
    assert result.returncode != 0 and "CRISIS_NATS_QUERY_PASSWORD" in result.stderr


def test_the_k8s_nats_runs_the_generated_users_with_passwords_from_their_secret() -> None:
    assert authorization_block() in k8s_nats_conf(), "regenerate its block from services/common/nats_users.py"
    (container,) = named("StatefulSet", "nats")["spec"]["template"]["spec"]["containers"]
    [secret_name] = [source["secretRef"]["name"] for source in container["envFrom"]]
    assert set(named("Secret", secret_name)["stringData"]) == set(NATS_PASSWORDS)


@pytest.mark.parametrize("name", SERVICES)
def test_k8s_services_connect_to_nats_as_their_own_user(name: str) -> None:
    (container,) = containers(named("Deployment", name))
    env = {item["name"]: item for item in container["env"]}
    assert env["CRISIS_NATS_USER"]["value"] == name
    secret_key = env["CRISIS_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert secret_key["key"] == password_variable(name)
    (nats,) = named("StatefulSet", "nats")["spec"]["template"]["spec"]["containers"]
    assert {"secretRef": {"name": secret_key["name"]}} in nats["envFrom"], "the server reads the same Secret"


@pytest.mark.parametrize(
    "breakage",
    ["\nno_such_setting: 1\n", "\njetstream { sync_interval: sometimes }\n", "\ncluster {\n"],
    ids=["unknown-key", "bad-value", "unbalanced"],
)
def test_the_config_check_rejects_a_broken_config(tmp_path: Path, breakage: str) -> None:
    config = tmp_path / "broken.conf"
    config.write_text((NATS / "single.conf").read_text() + breakage)
    assert run_config_test(config).returncode != 0


@pytest.mark.parametrize("config", NATS_CONFIGS, ids=[c.name for c in NATS_CONFIGS])
def test_every_nats_config_fsyncs_before_acking(config: Path) -> None:
    text = config.read_text()
    assert nats_setting(text, "sync_interval") == ["always"]
    assert nats_setting(text, "max_payload") == ["1MB"]
    assert len(nats_setting(text, "store_dir")) == 1
    assert re.search(r"^jetstream\s*\{", strip_comments(text), re.MULTILINE)


def test_the_single_node_listens_on_4222_with_monitoring_on_8222() -> None:
    text = (NATS / "single.conf").read_text()
    assert nats_setting(text, "listen") == ["0.0.0.0:4222"]
    assert nats_setting(text, "http") == ["0.0.0.0:8222"]


@pytest.mark.parametrize("node", [1, 2, 3])
def test_the_cluster_configs_route_to_each_other(node: int) -> None:
    # `nats-server -t` accepts a clustered JetStream config without server_name or cluster name; the server
    # then refuses to start. Check what makes three files one cluster.
    text = CLUSTER_CONFIGS[node - 1].read_text()
    assert "include" not in strip_comments(text)
    assert nats_setting(text, "server_name") == [f"crisis-n{node}"]
    assert nats_setting(text, "name") == ["crisis"]
    client, cluster = 4221 + node, 6221 + node
    assert nats_setting(text, "listen") == [f"127.0.0.1:{client}", f"127.0.0.1:{cluster}"]
    routes = sorted(int(port) for port in re.findall(r"nats-route://127\.0\.0\.1:(\d+)", text))
    assert routes == sorted({6222, 6223, 6224} - {cluster})
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "override every port" in header, "the header says that tests override the ports"


def test_the_cluster_nodes_have_their_own_names_and_stores() -> None:
    texts = [config.read_text() for config in CLUSTER_CONFIGS]
    for key in ("server_name", "store_dir", "http"):
        values = [nats_setting(text, key)[0] for text in texts]
        assert len(set(values)) == 3, f"{key}: {values}"
