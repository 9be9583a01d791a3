"""deploy/: the systemd unit and the Dockerfile run ``monitor run`` as the README says.

Static checks of both files, the Dockerfile's health check against a real local server, and
``systemd-analyze verify`` / ``security --offline`` on the unit where the binary runs (no
systemd needs to be running). Building the image needs a Docker daemon and is not done here.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath

import pytest
from dockerfile_parse import DockerfileParser
from sqlalchemy.engine import make_url

from monitor.cli import build_parser
from monitor.config import load_config
from monitor.logs import FORMATS

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "feed-monitor.service"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
MAX_EXPOSURE = 2.0  # systemd-analyze security: 0 is locked down, 10 is fully exposed


def unit_entries() -> dict[str, list[tuple[str, str]]]:
    """Section -> (key, value) in order; keys such as Environment= may repeat, unlike INI."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    text = re.sub(r"\\\n", " ", UNIT.read_text(encoding="utf-8"))  # continuation lines
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not key=value: {raw!r}"
        current.append((key.strip(), value.strip()))
    return sections


def service() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in unit_entries()["Service"]:
        values.setdefault(key, []).append(value)
    return values


def unit_env() -> dict[str, str]:
    return dict(v.partition("=")[::2] for v in service()["Environment"])


def one(key: str) -> str:
    (value,) = service()[key]
    return value


HARDENING = {
    "DynamicUser": "yes",
    "StateDirectory": "feed-monitor",
    "ConfigurationDirectory": "feed-monitor",
    "WorkingDirectory": "/var/lib/feed-monitor",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "NoNewPrivileges": "yes",
    "PrivateDevices": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "CapabilityBoundingSet": "",
    "Restart": "on-failure",
    "KillSignal": "SIGTERM",
    "TimeoutStopSec": "30",
    "EnvironmentFile": "-/etc/feed-monitor/env",
}


@pytest.mark.parametrize(("key", "value"), HARDENING.items())
def test_the_unit_sets_its_hardening_and_lifecycle_keys(key: str, value: str) -> None:
    assert one(key) == value


def test_the_unit_has_its_sections_and_the_system_service_call_filter() -> None:
    assert set(unit_entries()) == {"Unit", "Service", "Install"}
    assert service()["SystemCallFilter"][0] == "@system-service"
    assert dict(unit_entries()["Install"])["WantedBy"] == "multi-user.target"


def test_exec_start_runs_the_daemon_and_reload_sends_hup() -> None:
    argv = shlex.split(one("ExecStart").replace("${LOG_FORMAT}", unit_env()["LOG_FORMAT"]))
    assert PurePosixPath(argv[0]).name == "monitor"
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.once, args.log_format in FORMATS) == ("run", False, True)
    assert one("ExecReload") == "/bin/kill -HUP $MAINPID"


def test_the_unit_reads_its_config_and_keeps_its_database_where_it_may_write(
    tmp_path: Path,
) -> None:
    env = unit_env()
    assert env["MONITOR_CONFIG"] == f"/etc/{one('ConfigurationDirectory')}/config.yaml"
    assert_database_under(env, f"/var/lib/{one('StateDirectory')}", tmp_path)


def assert_database_under(env: dict[str, str], folder: str, tmp_path: Path) -> None:
    """The database in ``env`` is inside ``folder``, and config.yaml can name it."""
    database = make_url(env["MONITOR_DATABASE"]).database
    assert database is not None and PurePosixPath(database).is_relative_to(folder)
    config = tmp_path / "config.yaml"
    config.write_text("database: ${MONITOR_DATABASE}\n", encoding="utf-8")
    assert load_config(config, env=env).config.database == env["MONITOR_DATABASE"]


def test_the_example_config_keeps_its_database_where_a_deployment_may_write() -> None:
    """Copied to /etc/feed-monitor or /config, a relative SQLite path would be read-only."""
    for env in (unit_env(), dockerfile().envs):
        loaded = load_config(ROOT / "config.yaml", env=dict(env))
        url = make_url(loaded.config.database)
        if url.get_backend_name() == "sqlite":
            assert url.database == make_url(env["MONITOR_DATABASE"]).database, url


def probe_systemd_analyze(tmp_path: Path, *args: str) -> None:
    """Skip (in CI too: a container may not run it) unless it checks a trivial unit cleanly."""
    if not Path(SYSTEMD_ANALYZE).exists():
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    probe = tmp_path / "probe.service"
    probe.write_text("[Service]\nExecStart=/bin/true\n", encoding="utf-8")
    run = subprocess.run(
        [SYSTEMD_ANALYZE, *args, str(probe)], capture_output=True, text=True, timeout=60
    )
    if run.returncode != 0:
        pytest.skip(f"systemd-analyze {' '.join(args)} cannot run here: {run.stderr.strip()}")


def runnable_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart naming this venv's ``monitor``: verify checks that it exists."""
    monitor = Path(sys.executable).parent / "monitor"
    if not monitor.exists():
        pytest.skip(f"no monitor script beside {sys.executable}: pip install -e . first")
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/feed-monitor/bin/monitor", str(monitor)))
    return unit


def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    probe_systemd_analyze(tmp_path, "verify")
    run = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(runnable_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip() == "", run.stderr  # an unknown key or bad value is only a warning


def test_systemd_analyze_security_rates_the_unit_well_exposed_at_most_2(tmp_path: Path) -> None:
    probe_systemd_analyze(tmp_path, "security", "--offline=yes")
    run = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager", str(runnable_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", run.stdout)
    assert found, run.stdout + run.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, run.stdout


def dockerfile() -> DockerfileParser:
    return DockerfileParser(path=str(DOCKERFILE))


def instructions(name: str) -> list[str]:
    return [i["value"] for i in dockerfile().structure if i["instruction"] == name]


def test_the_image_installs_the_package_with_postgres_and_runs_the_daemon() -> None:
    parsed = dockerfile()
    assert parsed.baseimage == "python:3.11-slim"
    assert any("pip install '.[postgres]'" in run for run in instructions("RUN"))
    assert json.loads(instructions("ENTRYPOINT")[-1]) == ["monitor"]
    assert json.loads(instructions("CMD")[-1]) == ["run"]
    assert instructions("STOPSIGNAL") == ["SIGTERM"]


def test_the_image_runs_as_a_user_who_is_not_root() -> None:
    users = instructions("USER")
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and user.isdigit()  # numeric: runAsNonRoot can check it


def test_the_image_reads_config_from_config_and_keeps_data_on_its_volume(tmp_path: Path) -> None:
    env = dockerfile().envs
    assert env["MONITOR_CONFIG"] == "/config/config.yaml"
    assert instructions("VOLUME") == ["/data"]
    assert_database_under(env, "/data", tmp_path)


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def healthz() -> Iterator[tuple[str, type[_Health]]]:
    handler = type("Health", (_Health,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/healthz", handler
    server.shutdown()
    server.server_close()


def health_check(url: str) -> int:
    """The image's HEALTHCHECK command, run here with MONITOR_HEALTHZ set to ``url``."""
    (value,) = instructions("HEALTHCHECK")
    command = json.loads(value.partition(" CMD ")[2])
    assert command[:2] == ["python", "-c"]
    env = {"MONITOR_HEALTHZ": url, "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-c", command[2]], env=env, capture_output=True, timeout=30
    )
    return run.returncode


def test_the_health_check_asks_healthz_only_when_told_where_it_is(
    healthz: tuple[str, type[_Health]],
) -> None:
    url, handler = healthz
    assert health_check("") == 0  # no web endpoint configured: nothing to check
    assert health_check(url) == 0
    handler.status = 503
    assert health_check(url) != 0
    assert health_check(url.replace("/healthz", "/nothing")) != 0


def test_dockerignore_keeps_out_local_state_but_not_what_the_image_copies() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in (".venv", ".git", "monitor.db", "tests"):
        assert any(fnmatch.fnmatch(needed, p) for p in patterns), needed
    copied = [src for value in instructions("COPY") for src in value.split()[:-1]]
    assert sorted(copied) == ["README.md", "migrations/", "monitor/", "pyproject.toml"]
    for src in copied:
        assert not any(fnmatch.fnmatch(src.rstrip("/"), p) for p in patterns), src


def test_the_readme_documents_the_deploy_files() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for mention in ("deploy/feed-monitor.service", "deploy/Dockerfile", "--log-format json"):
        assert mention in readme, mention
    for path in set(re.findall(r"/(?:etc|var/lib)/feed-monitor[\w./-]*", readme)):
        assert path.rstrip(".") in UNIT.read_text(), path
