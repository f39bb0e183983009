"""Resource paths of API Gateway routes (`/users/{id}`, `/files/{proxy+}`): compiled once, matched per request.
Shared by the REST data plane (rest.py) and HTTP APIs (http_api.py)."""
from __future__ import annotations

LITERAL, PARAM, GREEDY = 0, 1, 2

Segments = tuple[tuple[int, str], ...]   # (kind, literal text or parameter name)


def resource_path(path: str) -> str:
    """The resource an OpenAPI path is, as API Gateway imports it: `/items/` and `//items` are `/items`."""
    return "/" + "/".join(p for p in path.split("/") if p)


def compile_path(path: str) -> Segments:
    """`/a/{b}/{c+}` -> ((LITERAL, "a"), (PARAM, "b"), (GREEDY, "c"))."""
    segments = []
    for part in [p for p in path.split("/") if p]:
        if part.startswith("{") and part.endswith("+}"):
            segments.append((GREEDY, part[1:-2]))
        elif part.startswith("{") and part.endswith("}"):
            segments.append((PARAM, part[1:-1]))
        else:
            segments.append((LITERAL, part))
    return tuple(segments)


def match_path(segments: Segments, parts: list[str]) -> dict[str, str] | None:
    """The path parameters if the request's path `parts` match `segments`, else None."""
    params: dict[str, str] = {}
    for index, (kind, text) in enumerate(segments):
        if kind == GREEDY:
            if index >= len(parts):
                return None
            params[text] = "/".join(parts[index:])
            return params
        if index >= len(parts) or (kind == LITERAL and parts[index] != text):
            return None
        if kind == PARAM:
            params[text] = parts[index]
    return params if len(parts) == len(segments) else None
