"""The docs' API reference is the OpenAPI document the service serves, rendered: docs/reference/openapi.json and
docs/reference/api.md must be what `python -m service.api_reference` writes from the app's /openapi.json today
(run `make docs` after changing service/openapi.py)."""

from __future__ import annotations

from pathlib import Path

from service import api_reference, create_app

ROOT = Path(__file__).resolve().parent.parent


def test_reference_files_are_rendered_from_the_served_document(tiny_registry, tmp_path):
    app = create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root),
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "ACCESS_LOG": False})
    served = app.test_client().get("/openapi.json").get_json()
    assert served == api_reference.spec()  # the renderer reads the same document, in the order it is written
    for name, content in api_reference.render().items():
        committed = (ROOT / "docs" / "reference" / name).read_text(encoding="utf-8")
        assert committed == content, (f"docs/reference/{name} differs from the OpenAPI document the app serves: "
                                      "run `make docs` (python -m service.api_reference)")


def test_every_operation_has_its_section():
    document = api_reference.spec()
    page = api_reference.markdown(document)
    for path, operations in document["paths"].items():
        for method in operations:
            if method in api_reference.METHODS:
                assert f"### `{method.upper()} {path}`" in page
    for name in document["components"]["schemas"]:
        assert f"### {name} {{#schema-{name.lower()}}}" in page
