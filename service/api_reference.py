"""The docs' API reference, rendered from the OpenAPI document the service serves at GET /openapi.json.

`python -m service.api_reference` (run by `make docs`) writes docs/reference/openapi.json (the document itself)
and docs/reference/api.md (a page per operation and schema); tests/test_api_reference.py fails when either
differs from what the code serves, so the reference cannot drift from the API.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from service.openapi import spec

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference"
METHODS = ("get", "put", "post", "delete", "patch")


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _anchor(name: str) -> str:
    return "schema-" + name.lower()


def _type(schema: dict) -> str:
    if not schema:
        return "any"
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{_anchor(name)})"
    for combiner in ("oneOf", "anyOf", "allOf"):
        if combiner in schema:
            kind = (" or " if combiner != "allOf" else " and ").join(_type(s) for s in schema[combiner])
            return kind + (", or null" if schema.get("nullable") else "")
    kind = schema.get("type", "object" if "properties" in schema else "any")
    if kind == "array":
        kind = f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        kind += ": " + ", ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    limits = []
    for key, word in (("minimum", ">="), ("maximum", "<="), ("minLength", "length >="), ("maxLength", "length <="),
                      ("minItems", "items >="), ("maxItems", "items <=")):
        if key in schema:
            limits.append(f"{word} {schema[key]}")
    if limits:
        kind += f" ({', '.join(limits)})"
    if schema.get("nullable"):
        kind += ", or null"
    return kind


def _body_schema(content: dict) -> str:
    parts = []
    for media, body in content.items():
        parts.append(f"`{media}` {_type(body.get('schema', {}))}")
    return "; ".join(parts)


def _access(operation: dict, document: dict) -> str:
    security = operation.get("security", document.get("security"))
    if security == []:
        return "no key"
    names = sorted({name for requirement in security or [] for name in requirement})
    if names == ["coralSignature"]:
        return "a Coral signature (`X-Coral-Signature`)"
    text = " ".join(str(operation.get(k, "")) for k in ("summary", "description"))
    return "an admin key" if "admin key" in text else "a client or admin key"


def operation_markdown(path: str, method: str, operation: dict, document: dict) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", "", _cell(operation.get("summary", "")), ""]
    if operation.get("description"):
        lines += [operation["description"].strip(), ""]
    lines += [f"Needs {_access(operation, document)}.", ""]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
        for p in parameters:
            lines.append(f"| `{p['name']}` | {p['in']} | {_type(p.get('schema', {}))} | "
                         f"{'yes' if p.get('required') else 'no'} | {_cell(p.get('description', ''))} |")
        lines.append("")
    body = operation.get("requestBody")
    if body:
        lines += [f"Request body{' (required)' if body.get('required') else ''}: "
                  f"{_body_schema(body.get('content', {}))}. {_cell(body.get('description', ''))}".rstrip(), ""]
    lines += ["| status | meaning | body |", "|---|---|---|"]
    for status, response in operation.get("responses", {}).items():
        headers = response.get("headers", {})
        extra = f" Headers: {', '.join(f'`{h}`' for h in headers)}." if headers else ""
        lines.append(f"| {status} | {_cell(response.get('description', ''))}{extra} | "
                     f"{_body_schema(response.get('content', {})) or '-'} |")
    lines.append("")
    return lines


def schema_markdown(name: str, schema: dict) -> list[str]:
    lines = [f"### {name} {{#{_anchor(name)}}}", ""]
    if schema.get("description"):
        lines += [_cell(schema["description"]), ""]
    properties = schema.get("properties")
    if not properties:
        lines += [f"Type: {_type({k: v for k, v in schema.items() if k != 'description'})}.", ""]
        return lines
    required = set(schema.get("required", []))
    lines += ["| field | type | required | description |", "|---|---|---|---|"]
    for field, sub in properties.items():
        lines.append(f"| `{field}` | {_type(sub)} | {'yes' if field in required else 'no'} | "
                     f"{_cell(sub.get('description', ''))} |")
    extra = schema.get("additionalProperties")
    if extra is False:
        lines += ["", "No other field."]
    lines.append("")
    return lines


def markdown(document: dict) -> str:
    info = document["info"]
    lines = ["# API reference", "",
             "<!-- Generated by `python -m service.api_reference` (make docs) from the OpenAPI document the service "
             "serves; do not edit by hand: change the models (service/request_models.py, service/response_models.py) "
             "or the operations (service/openapi.py). -->", "",
             f"{info.get('description', '')}", "",
             f"Rendered from `GET /openapi.json` (OpenAPI {document['openapi']}, API version {info['version']}); "
             "the document itself: [openapi.json](openapi.json). The same document drives the schemathesis run of "
             "the test suite, so every operation below is exercised against the code.", ""]
    tags: dict[str, list] = {}
    for path, operations in document["paths"].items():
        for method in METHODS:
            if method in operations:
                operation = operations[method]
                tags.setdefault((operation.get("tags") or ["other"])[0], []).append((path, method, operation))
    for tag, operations in tags.items():
        lines += [f"## {tag.capitalize()}", ""]
        for path, method, operation in operations:
            lines += operation_markdown(path, method, operation, document)
    lines += ["## Schemas", ""]
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        lines += schema_markdown(name, schema)
    return "\n".join(lines).rstrip("\n") + "\n"


def render(document: dict | None = None) -> dict[str, str]:
    """File name -> content of the reference files, from `document` (default: what the service serves)."""
    document = spec() if document is None else document
    return {"openapi.json": json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n", "api.md": markdown(document)}


def main(folder: Path = REFERENCE) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in render().items():
        (folder / name).write_text(content, encoding="utf-8")
        print(f"wrote {folder / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
