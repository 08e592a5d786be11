"""The image's model stage copies only a few modules (so code changes reuse its cached layer): they must hold
every module its set-up command imports, or the image build fails only where podman runs."""
from __future__ import annotations

import ast
import re

from conftest import ROOT


def _model_stage() -> str:
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return dockerfile.split("AS models", 1)[1].split("\nFROM ", 1)[0]


def _imported_at_load(module: str) -> set[str]:
    """The rag modules that importing `module` loads (module-level imports; deferred ones run later)."""
    path = ROOT / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text() if path.exists() else (path.with_suffix("") / "__init__.py").read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rag"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("rag")}
    return found


def test_the_model_stage_copies_every_module_its_command_imports():
    stage = _model_stage()
    copied = {path.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
              for path in re.search(r"^COPY ((?:rag/\S+\.py\s+)+)/src/rag/", stage, re.M).group(1).split()}
    needed, todo = set(), re.findall(r"from (rag\.\w+) import", stage)
    assert todo
    while todo:
        module = todo.pop()
        if module not in needed:
            needed.add(module)
            todo += _imported_at_load(module)
    assert needed <= copied, f"Dockerfile's model stage misses {sorted(needed - copied)}"
