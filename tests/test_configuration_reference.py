"""Every environment variable the code reads is in the configuration reference (docs/operators/configuration.md):
the `MODERATION_*` settings of the app's configuration (its defaults in `create_app` and every key the service
reads from `app.config`), every name read through os.environ / os.getenv, and every `envvar=` of the CLI."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "operators" / "configuration.md"
CODE = ("moderation", "service", "training", "bench")
# Flask's own settings the code sets or reads, not configuration of this service; and names the code sets for
# itself (gunicorn's master tells its workers who it is).
NOT_SETTINGS = {"TESTING", "JSON_SORT_KEYS", "SESSION_COOKIE_SAMESITE", "SESSION_COOKIE_HTTPONLY"}


def _os_environ(node) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name) \
        and node.value.id == "os"


def _literal(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def environment_reads() -> set[str]:
    """Names read from the environment anywhere in the code: os.environ.get/[]/setdefault, os.getenv, envvar=."""
    names = set()
    for package in CODE:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    func = node.func
                    if isinstance(func, ast.Attribute) and func.attr in ("get", "setdefault", "pop") \
                            and _os_environ(func.value) and node.args:
                        names.add(_literal(node.args[0]))
                    if isinstance(func, ast.Attribute) and func.attr == "getenv" and node.args:
                        names.add(_literal(node.args[0]))
                    for keyword in node.keywords:
                        if keyword.arg == "envvar":
                            names.add(_literal(keyword.value))
                elif isinstance(node, ast.Subscript) and _os_environ(node.value) and isinstance(node.ctx, ast.Load):
                    names.add(_literal(node.slice))
    return {n for n in names if n and not n.startswith("_")}


def app_settings() -> set[str]:
    """`MODERATION_<KEY>` for every key of create_app's defaults and every key the service reads from its config."""
    keys = set()
    init = ast.parse((ROOT / "service" / "__init__.py").read_text(encoding="utf-8"))
    for node in ast.walk(init):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "from_mapping":
            keys |= {k.arg for k in node.keywords if k.arg}
    for path in (ROOT / "service").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r"config(?:\.get|\.setdefault)?\(\s*\"([A-Z_]+)\"", text))
        keys |= set(re.findall(r"config\[\"([A-Z_]+)\"\]", text))
    return {f"MODERATION_{k}" for k in keys - NOT_SETTINGS}


def documented() -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", PAGE.read_text(encoding="utf-8")))


def test_the_reader_finds_the_ways_the_code_reads_the_environment():
    assert {"MODERATION_DATA_DIR", "HOST", "WEB_CONCURRENCY", "RESCORE_BENCH_ROWS", "MODERATION_BANNED_WORDS"} \
        <= environment_reads()
    assert {"MODERATION_API_KEYS", "MODERATION_READY_TIMEOUT_SECONDS", "MODERATION_CORAL_SIGNING_SECRETS"} \
        <= app_settings()


def test_every_variable_the_code_reads_is_in_the_configuration_reference():
    missing = sorted((environment_reads() | app_settings()) - documented())
    assert missing == [], f"not in {PAGE.relative_to(ROOT)}: {', '.join(missing)}"
