"""step_functions/publish.asl.json is valid JSON as written: DefinitionSubstitutions fill values, never structure."""
import json
import re
from pathlib import Path

DEFINITION = Path(__file__).resolve().parents[2] / "step_functions" / "publish.asl.json"


def states(definition: dict):
    for name, state in definition["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from states(branch)


def test_the_definition_is_json_before_any_substitution():
    definition = json.loads(DEFINITION.read_text())
    assert definition["StartAt"] == "Limits"


def test_every_placeholder_stands_inside_a_string_value():
    text = DEFINITION.read_text()
    placeholders = re.findall(r"\$\{\w+\}", text)
    assert placeholders
    strings = " ".join(re.findall(r'"(?:[^"\\]|\\.)*"', text))
    assert all(placeholder in strings for placeholder in placeholders)


def test_every_timeout_is_read_from_the_limits_the_first_state_sets():
    definition = json.loads(DEFINITION.read_text())
    limits = definition["States"]["Limits"]
    set_by_limits = {f"{limits['ResultPath']}.{key.removesuffix('.$')}" for key in limits["Parameters"]}
    read = {state["TimeoutSecondsPath"] for _, state in states(definition) if "TimeoutSecondsPath" in state}
    assert read == set_by_limits
    assert not [name for name, state in states(definition) if "TimeoutSeconds" in state]
    # every task has a timeout: none may hang a publish past the template's limits
    assert not [name for name, state in states(definition) if state["Type"] == "Task" and
                "TimeoutSecondsPath" not in state]
