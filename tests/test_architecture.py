"""index/ is the answering core and must not know about chat platforms."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_index_imports_no_chat_library():
    forbidden = ("discord", "slack_bolt", "slack_sdk", "bot")
    for path in (ROOT / "index").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"


def test_no_model_is_loaded_by_hub_name():
    for path in list((ROOT / "index").rglob("*.py")) + list((ROOT / "bot").rglob("*.py")):
        text = path.read_text()
        assert "sentence-transformers/all-MiniLM" not in text, path
