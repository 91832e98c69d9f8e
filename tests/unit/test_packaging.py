"""What `sam build` ships must import: function folders may import only shared/ and libraries,
never each other or the local stack, and the OpenAPI document must match the code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from local import openapi
from local import template as tpl

FUNCTIONS = sorted((tpl.ROOT / "functions").glob("*/*.py"))


@pytest.mark.parametrize("path", FUNCTIONS, ids=lambda p: str(p.relative_to(tpl.ROOT)))
def test_function_modules_import_only_shared_and_libraries(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    offending = [
        name for name in imported if name and name.split(".")[0] in {"functions", "local", "moto", "tests"}
    ]
    assert offending == [], f"{path.name} imports {offending}: Lambda ships only shared/ in the layer"


def test_every_template_handler_exists() -> None:
    import importlib

    for function in tpl.functions().values():
        module = importlib.import_module(function.module)
        assert callable(getattr(module, function.attribute)), function.logical_id


def test_openapi_document_is_current() -> None:
    committed = openapi.OPENAPI_PATH.read_text(encoding="utf-8")
    assert committed == openapi.render(), "docs/openapi.json is stale: run `python -m local.openapi`"
