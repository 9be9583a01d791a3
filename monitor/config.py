"""config.yaml: load, substitute the environment, validate, and report every problem at once.

Each problem is one line ``file:line: field: message``; secrets never appear in
them (pydantic's inputs are not printed, and secret fields are ``SecretStr``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from monitor.durations import parse_duration
from monitor.errors import ConfigError, QueryError
from monitor.notify.signing import secret_key
from monitor.yamlsource import Path as FieldPath
from monitor.yamlsource import YamlSource, YamlSyntaxError, format_path, load_yaml, substitute_env

Duration = Annotated[float, BeforeValidator(parse_duration)]


def _http_url(value: str) -> str:
    if not value.strip():
        return ""
    try:
        parts = urlsplit(value.strip())
        scheme, host = parts.scheme, parts.hostname
    except ValueError:  # a bad [IPv6] host; the message could quote a secret URL
        scheme, host = "", None
    if scheme not in ("http", "https") or not host:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value.strip()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(_Strict):
    interval: Duration = 300.0
    timeout: Duration = 20.0
    backlog: Duration = 86400.0
    fetch_articles: bool = False  # fetch each new entry's linked page and match its text too


class FeedConfig(_Strict):
    url: str
    name: str | None = None
    interval: Duration | None = None
    timeout: Duration | None = None
    backlog: Duration | None = None
    rules: list[str] | None = None
    fetch_articles: bool | None = None  # None: as ``defaults.fetch_articles``

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return _http_url(value)


class RuleConfig(_Strict):
    name: str = Field(min_length=1)
    any: list[str] | None = None
    query: str | None = None
    notify: list[str] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> RuleConfig:
        if (self.any is None) == (self.query is None):
            raise ValueError("give exactly one of 'any' or 'query'")
        if self.any is not None and not self.any:
            raise ValueError("'any' needs at least one phrase")
        return self


class SlackNotifier(_Strict):
    type: Literal["slack"]
    url: SecretStr

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        return SecretStr(_http_url(value.get_secret_value()))

    @property
    def enabled(self) -> bool:
        """An empty URL (from an explicit ``${VAR:-}`` default) switches the notifier off."""
        return bool(self.url.get_secret_value())


class WebhookNotifier(_Strict):
    type: Literal["webhook"]
    url: SecretStr
    secret: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        return SecretStr(_http_url(value.get_secret_value()))

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        """A ``whsec_`` secret must be base64; an empty one means no signing."""
        if value is None or not value.get_secret_value():
            return None
        secret_key(value.get_secret_value())  # its ValueError never quotes the secret
        return value

    @property
    def enabled(self) -> bool:
        """An empty URL (from an explicit ``${VAR:-}`` default) switches the notifier off."""
        return bool(self.url.get_secret_value())


class ConsoleNotifier(_Strict):
    type: Literal["console"]

    @property
    def enabled(self) -> bool:
        return True


Notifier = Annotated[SlackNotifier | WebhookNotifier | ConsoleNotifier, Field(discriminator="type")]


class WebConfig(_Strict):
    """The status page, ``/healthz`` and ``/metrics``, served by the daemon."""

    listen: str

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        listen_address(value)
        return value


def listen_address(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8080`` for IPv6) as a (host, port) pair."""
    host, sep, port = value.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError("must be host:port, such as 127.0.0.1:8080")
    return host, int(port)


class RetentionConfig(_Strict):
    """How long stored entries are kept; alerts and their deliveries are never pruned."""

    entries: Duration | None = None  # None: keep every entry


class HealthConfig(_Strict):
    """When a feed counts as unhealthy, for the alerts sent to ``health_notify``."""

    failures: int = Field(default=5, ge=1)  # polls failing in a row
    silence: float = Field(default=5.0, gt=1)  # times the feed's usual gap between entries
    min_silence: Duration = 86400.0  # never call a feed silent sooner than this


class Config(_Strict):
    database: str = "sqlite:///monitor.db"
    block_private_addresses: bool = False
    defaults: Defaults = Defaults()
    feeds: list[FeedConfig] = []
    rules: list[RuleConfig] = []
    notifiers: dict[str, Notifier] = {}
    web: WebConfig | None = None
    retention: RetentionConfig = RetentionConfig()
    health_notify: list[str] = []
    health: HealthConfig = HealthConfig()

    @field_validator("database")
    @classmethod
    def _check_database(cls, value: str) -> str:
        """A URL SQLAlchemy reads as its author meant, so its password can be hidden."""
        try:
            url = make_url(value)
        except (ArgumentError, ValueError):  # the message would quote the password
            raise ValueError("not a database URL (dialect://user:password@host/database)") from None
        userinfo = value.partition("://")[2].partition("@")
        misread = url.password is None and ":" in userinfo[0] and userinfo[1]  # u/:pw@h
        if misread or "@" in (url.host or ""):  # u:p@ss@h
            raise ValueError(
                "cannot tell the password from the rest of the URL: write"
                " dialect://user:password@host/database, with / : @ in them percent-encoded"
            )
        return value


@dataclass(frozen=True)
class LoadedConfig:
    """A valid configuration and the file it came from."""

    path: Path
    config: Config

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$MONITOR_CONFIG``, else ``./config.yaml``."""
    env = os.environ if env is None else env
    return Path(env.get("MONITOR_CONFIG") or "config.yaml")


def load_config(path: Path, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read and validate ``path``; raises ConfigError listing every problem."""
    env = os.environ if env is None else env
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = len(re.findall(rb"\r\n|\r|\n", exc.object[: exc.start])) + 1
        reason = f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x})"
        raise ConfigError([f"{path}:{line}: cannot read the configuration: {reason}"]) from exc
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([f"{path}: cannot read the configuration: {reason}"]) from exc
    return LoadedConfig(path=path, config=parse_config(text, str(path), env))


def parse_config(text: str, filename: str, env: Mapping[str, str]) -> Config:
    """Validate YAML ``text``; ``filename`` names it in error lines."""
    try:
        source = load_yaml(text)
    except YamlSyntaxError as exc:
        raise ConfigError([f"{filename}:{exc.line}: invalid YAML: {exc}"]) from exc
    if source.data is None:
        source.data = {}
    if not isinstance(source.data, dict):
        raise ConfigError([f"{filename}:1: the configuration must be a mapping of keys"])
    substitute_env(source, env)
    problems = list(source.problems)
    config = None
    try:
        config = Config.model_validate(source.data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, source.data))
    problems.extend(cross_check(source.data))
    if problems:
        raise ConfigError(_format(problems, source, filename))
    assert config is not None
    return config


def _format(problems: list[tuple[FieldPath, str]], source: YamlSource, filename: str) -> list[str]:
    seen: list[str] = []
    for path, message in sorted(problems, key=lambda p: source.line_of(p[0])):
        where = format_path(path) or "(top level)"
        line = f"{filename}:{source.line_of(path)}: {where}: {message}"
        if line not in seen:
            seen.append(line)
    return seen


_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "is required",
    "union_tag_invalid": "unknown type (expected slack, webhook or console)",
    "union_tag_not_found": "'type' is required (slack, webhook or console)",
}


def _pydantic_problems(exc: ValidationError, data: Any) -> list[tuple[FieldPath, str]]:
    out = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = error["loc"]
        if loc and loc[-1] == "[key]":  # a key that is not a string, as in ``notifiers: {1: …}``
            out.append((_real_path(loc[:-1], data, True), "names must be strings"))
            continue
        path = _real_path(loc, data, error["type"] == "missing")
        message = _MESSAGES.get(error["type"], error["msg"])
        out.append((path, message.removeprefix("Value error, ")))
    return out


def _real_path(loc: tuple[Any, ...], data: Any, keep_last: bool) -> FieldPath:
    """Drop the parts of pydantic's ``loc`` that are not in the data (union tags)."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif not (last and (keep_last or isinstance(node, dict))):
            continue
        path.append(part)
    return tuple(path)


def cross_check(data: dict[str, Any]) -> list[tuple[FieldPath, str]]:
    """Problems between sections, found on the raw data so they are reported with the rest."""
    feeds, rules, notifiers = (_list(data, "feeds"), _list(data, "rules"), data.get("notifiers"))
    rule_names = {r.get("name") for r in rules if isinstance(r.get("name"), str)}
    notifier_names = set(notifiers) if isinstance(notifiers, dict) else set()
    health = _references(data, ("health_notify",), notifier_names, "notifier")
    return _feed_problems(feeds, rule_names) + _rule_problems(rules, notifier_names) + health


def _list(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [item if isinstance(item, dict) else {} for item in value]


def _feed_problems(feeds: list[dict[str, Any]], rules: set[Any]) -> list[tuple[FieldPath, str]]:
    problems: list[tuple[FieldPath, str]] = []
    first_url: dict[Any, int] = {}
    first_name: dict[Any, int] = {}
    for i, feed in enumerate(feeds):
        url, name = feed.get("url"), feed.get("name")
        url = url.strip() if isinstance(url, str) else ""
        if url and first_url.setdefault(url, i) != i:
            problems.append((("feeds", i, "url"), f"same feed as feeds[{first_url[url]}]"))
        if isinstance(name, str) and first_name.setdefault(name, i) != i:
            problems.append((("feeds", i, "name"), f"duplicate feed name {name!r}"))
        problems.extend(_references(feed, ("feeds", i, "rules"), rules, "rule"))
    return problems


def _rule_problems(rules: list[dict[str, Any]], notifiers: set[Any]) -> list[tuple[FieldPath, str]]:
    problems: list[tuple[FieldPath, str]] = []
    first: dict[Any, int] = {}
    for i, rule in enumerate(rules):
        name = rule.get("name")
        if isinstance(name, str) and first.setdefault(name, i) != i:
            problems.append((("rules", i, "name"), f"duplicate rule name {name!r}"))
        problems.extend(_references(rule, ("rules", i, "notify"), notifiers, "notifier"))
        problems.extend(_query_problems(i, rule))
    return problems


def _references(
    item: dict[str, Any], path: FieldPath, known: set[Any], kind: str
) -> list[tuple[FieldPath, str]]:
    names = item.get(str(path[-1]))
    if not isinstance(names, list):
        return []
    return [
        ((*path, j), f"no {kind} named {name!r}")
        for j, name in enumerate(names)
        if isinstance(name, str) and name not in known
    ]


def _query_problems(index: int, rule: dict[str, Any]) -> list[tuple[FieldPath, str]]:
    from monitor.matching.query import any_of, parse_query

    query, phrases = rule.get("query"), rule.get("any")
    if isinstance(query, str):
        try:
            parse_query(query)
        except QueryError as exc:
            return [(("rules", index, "query"), str(exc))]
        return []
    if not isinstance(phrases, list):
        return []
    problems: list[tuple[FieldPath, str]] = []
    if not phrases:
        problems.append((("rules", index, "any"), "the list of phrases is empty"))
    for j, phrase in enumerate(phrases):
        if not isinstance(phrase, str):
            continue
        try:
            any_of([phrase])
        except QueryError as exc:
            problems.append((("rules", index, "any", j), exc.reason))
    return problems


def feed_label(feed: FeedConfig) -> str:
    return feed.name or feed.url
