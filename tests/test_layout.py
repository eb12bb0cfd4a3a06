"""The layout holds: the detection core stays pure (importing all of ``stream.core`` loads no
server client), every module imports, and no module imports itself back through others."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import stream

CHECK = """
import importlib, pkgutil, sys
import stream.core
for info in pkgutil.walk_packages(stream.core.__path__, "stream.core."):
    importlib.import_module(info.name)
clients = ("redis", "faust", "aiokafka", "kafka")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in clients)
mine = sorted(m for m in sys.modules
              if m.split(".")[0] == "stream" and m.split(".")[1:2] in (["state"], ["runtime"], ["tools"]))
print(loaded + mine)
"""


def test_the_core_imports_neither_redis_faust_aiokafka_nor_kafka_nor_the_other_packages() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def _module_level_imports(path: Path, package: str) -> set[str]:
    """The ``stream`` modules a module imports when it is loaded (imports inside functions
    and ``if TYPE_CHECKING:`` blocks are deferred on purpose and cannot form a load cycle)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for inner in (
            ast.walk(node)
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            else ()
        ):
            if isinstance(inner, ast.Import):
                found |= {alias.name for alias in inner.names}
            elif isinstance(inner, ast.ImportFrom) and inner.module and inner.level == 0:
                found.add(inner.module)
                found |= {f"{inner.module}.{alias.name}" for alias in inner.names}
    return {name for name in found if name.split(".")[0] == package}


def test_no_module_of_stream_imports_itself_back_through_others() -> None:
    root = Path(stream.__file__).parent
    modules = {
        ".".join(("stream", *path.relative_to(root).with_suffix("").parts)).removesuffix(
            ".__init__"
        ): path
        for path in root.rglob("*.py")
    }
    graph = {
        name: {
            other
            for other in _module_level_imports(path, "stream")
            if other in modules and other != name
        }
        for name, path in modules.items()
    }
    # a package imports its own submodules to re-export them: that edge is not a cycle
    graph = {
        name: {o for o in edges if not o.startswith(name + ".")} for name, edges in graph.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                cycles.append([*trail[trail.index(other) :], other])
            elif other not in state:
                visit(other, [*trail, other])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_every_module_of_stream_imports() -> None:
    failed = {}
    for info in pkgutil.walk_packages(stream.__path__, "stream."):
        if info.name.endswith("__main__"):
            continue  # runs its command when imported
        try:
            importlib.import_module(info.name)
        except Exception as exc:  # the test is the list of what failed
            failed[info.name] = repr(exc)
    assert failed == {}
