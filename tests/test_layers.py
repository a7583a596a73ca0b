"""The package's imports run one way, in the pipeline's order (README, "Development").

Every ``import`` in ``geosiam/`` is read, top-level and function-level alike: a package may import
only from its own layer or the layers below it. The data half and the base never import a deep
learning framework.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import geosiam

PACKAGE = Path(geosiam.__file__).parent

# Bottom to top. A top-level module not named here belongs to the base.
LAYERS = (
    "base",
    "sources",
    "tiling",
    "rasterize",
    "prepare",
    "model",
    "mining",
    "retrieval",
    "commands",
    "cli",
)
FRAMEWORKS = {"keras", "tensorflow", "jax", "torch"}
FRAMEWORK_FREE = {"base", "sources", "tiling", "rasterize", "prepare"}

# Upward imports still waiting for their module moves (issue 12). This list only shrinks: an entry
# whose import is gone fails the test below, so that whoever removes an import deletes its entry.
PENDING: set[str] = set()


def layer_of(module: str) -> str:
    """The layer of a dotted module name inside geosiam."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "base"
    if top in LAYERS:
        return top
    return "base"


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imports_of(path: Path) -> list[str]:
    """The absolute module names a source file imports (``from geosiam import x`` gives geosiam.x)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                raise AssertionError(f"{path}: relative import; geosiam uses absolute imports")
            if node.module == "geosiam":
                found.extend(f"geosiam.{alias.name}" for alias in node.names)
            else:
                found.append(node.module)
    return found


def all_imports() -> list[tuple[str, str]]:
    return [
        (_module_name(path), imported)
        for path in sorted(PACKAGE.rglob("*.py"))
        for imported in imports_of(path)
    ]


def upward(importer: str, imported: str) -> bool:
    if not imported.startswith("geosiam.") and imported != "geosiam":
        return False
    return LAYERS.index(layer_of(imported)) > LAYERS.index(layer_of(importer))


def test_no_package_imports_a_layer_above_it():
    found = {f"{a} -> {b}" for a, b in all_imports() if upward(a, b)}
    assert sorted(found - PENDING) == []


def test_pending_upward_imports_still_exist():
    found = {f"{a} -> {b}" for a, b in all_imports() if upward(a, b)}
    assert sorted(PENDING - found) == [], "these imports are gone: delete them from PENDING"


def test_data_half_and_base_never_import_a_framework():
    offenders = [
        f"{a} -> {b}"
        for a, b in all_imports()
        if layer_of(a) in FRAMEWORK_FREE and b.split(".")[0] in FRAMEWORKS
    ]
    assert offenders == []


def has_reason(lines: list[str], node: ast.stmt) -> bool:
    """A ``# lazy:`` comment on the import, or on a comment line above the block it starts."""
    if "# lazy:" in "\n".join(lines[node.lineno - 1 : node.end_lineno]):
        return True
    for line in reversed(lines[: node.lineno - 1]):
        stripped = line.strip()
        if stripped.startswith("# lazy:"):
            return True
        if not (
            stripped.startswith(("import ", "from ", "#")) or stripped.endswith((",", "(")) or stripped == ")"
        ):
            return False
    return False


def test_imports_inside_functions_say_why():
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for function in ast.walk(ast.parse(source)):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(function):
                    if isinstance(node, (ast.Import, ast.ImportFrom)) and not has_reason(lines, node):
                        unexplained.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert unexplained == [], "import at the top, or say why not with a '# lazy: <reason>' comment"


def test_nothing_imports_the_cli():
    assert [a for a, b in all_imports() if b == "geosiam.cli" and a != "geosiam.__main__"] == []


@pytest.mark.parametrize(
    ("importer", "imported", "is_upward"),
    [
        ("geosiam.model.train", "geosiam.mining.miner", True),
        ("geosiam.sources.ign", "geosiam.tiling.grid", True),
        ("geosiam.tiling.cut", "geosiam.geometry", False),
        ("geosiam.retrieval.evaluate", "geosiam.model.embedder", False),
        ("geosiam.workspace", "geosiam.prepare.stages", True),
        ("geosiam.commands.prepare", "geosiam.cli", True),
        ("geosiam.model.train", "numpy", False),
    ],
)
def test_the_checker_knows_up_from_down(importer, imported, is_upward):
    assert upward(importer, imported) is is_upward
