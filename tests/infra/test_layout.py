"""The map at the top of docs/internals.md, enforced: which package may import which.

Read from the source (every import statement, also those inside functions), not from what happens to be loaded.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: the top-level packages of functions/ (each function's CodeUri puts functions/ on sys.path)
FUNCTION_PACKAGES = frozenset(p.name for p in (ROOT / "functions").iterdir() if (p / "__init__.py").exists())
LOCAL_CLOUD = ("infra", "api_gateway")


def modules(package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module of a top-level folder."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if package == "functions":
            parts = parts[1:]
        name = ".".join(parts).removesuffix(".__init__")
        found[name] = path
    return found


def imported(path: Path, *, module_level_only: bool = False, typing_only_too: bool = True) -> set[str]:
    """The absolute module names a file imports (``from a import b`` counts as a and a.b)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = _module_level(tree.body, typing_only_too) if module_level_only else ast.walk(tree)
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _module_level(body: list[ast.stmt], typing_only_too: bool = True):
    """The statements that run at import, also inside top-level ``if``/``try`` (``if TYPE_CHECKING:`` counts
    unless ``typing_only_too`` is false: a type-only import is still a dependency the reader has to follow)."""
    for node in body:
        yield node
        if isinstance(node, ast.If) and not typing_only_too and ast.unparse(node.test) == "TYPE_CHECKING":
            continue
        if isinstance(node, ast.If | ast.Try):
            yield from _module_level(node.body + node.orelse + getattr(node, "finalbody", []) +
                                     [stmt for handler in getattr(node, "handlers", []) for stmt in handler.body],
                                     typing_only_too)


def violations(package: str, refused) -> list[str]:
    return [f"{path.relative_to(ROOT)} imports {name}" for path in modules(package).values()
            for name in sorted(imported(path)) if refused(name)]


def top(name: str) -> str:
    return name.split(".", 1)[0]


def test_the_map_knows_the_function_packages():
    assert {"core", "auth", "persist", "counter", "transaction", "gateway", "mail", "avatar"} <= FUNCTION_PACKAGES


def test_functions_never_import_the_local_cloud_or_the_client():
    assert violations("functions", lambda name: top(name) in {*LOCAL_CLOUD, "client", "step_functions"}) == []


@pytest.mark.parametrize("package", LOCAL_CLOUD)
def test_the_local_cloud_never_imports_functions(package):
    """It loads handlers by the template's Handler strings, with CodeUri on sys.path, as Lambda does."""
    assert violations(package, lambda name: top(name) in FUNCTION_PACKAGES) == []


def test_the_client_imports_nothing_of_the_cloud_or_the_functions():
    """client/ speaks PROTOCOL.md to any deployment: notifyx up, LocalStack or AWS."""
    assert violations("client", lambda name: top(name) in {*LOCAL_CLOUD, *FUNCTION_PACKAGES}) == []


def test_the_data_planes_import_only_themselves_and_the_account():
    """api_gateway/ is configured by infra (api_gateway.config), never reaching into it."""
    assert violations("api_gateway", lambda name: top(name) == "infra" and top(name.removeprefix("infra.")) != "account"
                      ) == []


@pytest.mark.parametrize(("package", "typing_only_too"), [("api_gateway", True), ("client", True), ("infra", False)])
def test_no_module_imports_itself_back(package, typing_only_too):
    """No import cycle between the modules of a package (api_gateway.connections <-> websocket was one; infra's
    deploy <-> resources another, whose creators still name the Deployer in their type hints)."""
    known = modules(package)
    graph = {name: {dep for dep in imported(path, module_level_only=True, typing_only_too=typing_only_too)
                    if dep in known and dep != name}
             for name, path in known.items()}
    cycles = []

    def visit(name: str, trail: list[str]) -> None:
        for dep in sorted(graph[name]):
            if dep in trail:
                cycles.append(" -> ".join(trail[trail.index(dep):] + [dep]))
            elif len(trail) < len(graph):
                visit(dep, trail + [dep])

    for name in sorted(graph):
        visit(name, [name])
    assert cycles == []


def test_the_map_in_the_docs_names_every_top_level_folder():
    text = (ROOT / "docs" / "internals.md").read_text()
    head = text.split("\n## ", 2)[1]   # the first section: the map
    for folder in ("functions/", "api_gateway/", "step_functions/", "infra/", "localstack/", "tests/", "client/",
                   "docs/"):
        assert folder in head, folder


def test_a_service_imports_only_core_and_itself():
    """Services reach each other through core.services (a Lambda invoke), never through each other's code."""
    wrong = []
    for name, path in modules("functions").items():
        own = top(name)
        wrong += [f"{path.relative_to(ROOT)} imports {dep}" for dep in sorted(imported(path))
                  if top(dep) in FUNCTION_PACKAGES and top(dep) not in {own, "core"}]
    assert wrong == []


@pytest.mark.parametrize("package", [*LOCAL_CLOUD, "client"])
def test_the_account_region_and_test_keys_are_written_once(package):
    """infra/account.py is where the local cloud's account id, region and test keys are written."""
    literals = {'"123456789012"', '"us-east-1"', '"testing"'}
    found = [f"{path.relative_to(ROOT)}:{number}" for path in modules(package).values()
             if path != ROOT / "infra" / "account.py"
             for number, line in enumerate(path.read_text().splitlines(), 1) if any(x in line for x in literals)]
    assert found == []


def test_functions_read_the_environment_and_the_time_only_through_core():
    """core.config is the one reader of the template's configuration (core.telemetry also reads what the Lambda
    runtime sets per invocation, such as _X_AMZN_TRACE_ID); core.clock is the one source of the time."""
    readers = {"core.config", "core.telemetry"}
    found = []
    for name, path in modules("functions").items():
        text = path.read_text()
        if name not in readers and ("os.environ" in text or "os.getenv" in text):
            found.append(f"{path.relative_to(ROOT)} reads os.environ")
        if name != "core.clock" and ("time.time()" in text or "datetime.now(" in text):
            found.append(f"{path.relative_to(ROOT)} reads the time")
    assert found == []
