"""Input transformation templates: an EventBridge rule target's InputTransformer ("Amazon EventBridge input
transformation") and a pipe's InputTemplate ("Amazon EventBridge Pipes input transformation").

Each <variable> of the template is replaced by its value: in a JSON template (one that starts with { or [) a
variable outside a string is its JSON (a string quoted), inside a string its text (a string's characters escaped
for the string it sits in); in a text template its text. A placeholder that names no variable stays as it is.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

#: what `resolve` answers for a placeholder that names no variable
UNKNOWN = object()


def fill(template: str, placeholder: re.Pattern, resolve: Callable[[str], Any]) -> str:
    """`template` with each match of `placeholder` (its group 1 the variable's name) replaced by `resolve(name)`."""
    as_json = template.lstrip().startswith(("{", "["))
    out, quoted, escaped, at = [], False, False, 0
    for match in placeholder.finditer(template):
        for char in template[at:match.start()]:  # whether the placeholder sits inside a JSON string
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = not quoted
        out.append(template[at:match.start()])
        at = match.end()
        value = resolve(match.group(1))
        if value is UNKNOWN:
            out.append(match.group(0))
        elif as_json and not quoted:
            out.append(json.dumps(value))
        elif isinstance(value, str):
            out.append(json.dumps(value)[1:-1] if as_json else value)
        else:
            text = json.dumps(value)
            out.append(json.dumps(text)[1:-1] if as_json else text)
    out.append(template[at:])
    return "".join(out)


def parsed(text: str) -> Any:
    """A filled template as its target gets it: JSON where the text is JSON, else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text
