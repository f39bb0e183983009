"""Parity: inline code, a local layer and a public layer ARN (fixtures/apps/inline_layer) deploy unmodified.

Lambda stores a Python function's inline code as index.py and extracts layers into /opt, where Python imports
/opt/python; a public layer of another account cannot be fetched here and is skipped with a warning.
UpdateFunctionCode replaces the code the next invocation runs.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from infra.cloud import LocalCloud

APP = Path(__file__).parent / "fixtures" / "apps" / "inline_layer"


@pytest.fixture(scope="module")
def cloud():
    with LocalCloud(APP / "template.yaml", static_dir=None) as running:
        yield running


def test_inline_code_imports_the_local_layer(cloud):
    assert cloud.invoke("QuoteFunction", {"item": "apple"}) == {
        "item": "apple", "price": 0.5, "currency": "EUR", "task_root": True}


def test_a_folder_function_imports_the_local_layer(cloud):
    assert cloud.invoke("DiscountFunction", {"item": "pear"}) == {"item": "pear", "price": 0.68}


def test_the_layer_is_published_and_attached(cloud):
    lam = cloud.client("lambda")
    layer_arn = cloud.physical_id(next(lid for lid in cloud.stack.resources if lid.startswith("PricingLayer")))
    assert layer_arn.startswith("arn:aws:lambda:us-east-1:123456789012:layer:pricing:")
    layers = lam.get_function_configuration(FunctionName=cloud.physical_id("QuoteFunction"))["Layers"]
    assert [layer["Arn"] for layer in layers] == [layer_arn]      # the public layer was not attached


def test_a_public_layer_is_skipped_with_a_warning(cloud):
    import importlib.util

    [warning] = [w for w in cloud.stack.warnings if "layer" in w]
    layer = "QuoteFunction: public layer arn:aws:lambda:us-east-1:017000801446:layer:" \
            "AWSLambdaPowertoolsPythonV3-python312-x86_64:7"
    if importlib.util.find_spec("aws_lambda_powertools") is not None:  # a dependency of this project's functions
        assert warning == f"{layer} is not fetched; the function imports the installed package " \
                          "aws_lambda_powertools instead"
    else:
        assert warning.startswith(f"{layer} skipped: layers from other accounts are not available locally")


def test_update_function_code_takes_effect_at_the_next_invoke(cloud):
    lam = cloud.client("lambda")
    name = cloud.physical_id("DiscountFunction")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("discount.py", "from pricing.rules import price\n\n"
                                        "def handler(event, context):\n"
                                        "    return {'item': event['item'], 'price': price(event['item']), 'v': 2}\n")
    lam.update_function_code(FunctionName=name, ZipFile=buffer.getvalue())
    answer = json.loads(lam.invoke(FunctionName=name, Payload=b'{"item": "pear"}')["Payload"].read())
    assert answer == {"item": "pear", "price": 0.75, "v": 2}
    assert cloud.invoke("DiscountFunction", {"item": "apple"})["v"] == 2


def test_a_runtime_other_than_this_machines_python_is_a_warning(cloud):
    import sys

    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert f"QuoteFunction, DiscountFunction: Runtime python3.12, but handlers run on this machine's Python " \
           f"({here}) in the local cloud" in cloud.stack.warnings or here == "python3.12"


def test_a_public_layer_whose_package_is_installed_uses_it(monkeypatch):
    from infra.deploy import Deployer
    from infra.resources import awslambda
    from infra.template import expand

    monkeypatch.setitem(awslambda.PUBLIC_LAYER_PACKAGES, "PyYAMLLayer", "yaml")
    deployer = Deployer(expand(APP / "template.yaml"), "http://127.0.0.1:1", embedded=False)
    arns, paths = awslambda.layers(deployer, "Fn",
                                   ["arn:aws:lambda:us-east-1:999999999999:layer:PyYAMLLayer-python312:3"])
    assert (arns, paths) == ([], [])
    assert deployer.stack.warnings == [
        "Fn: public layer arn:aws:lambda:us-east-1:999999999999:layer:PyYAMLLayer-python312:3 is not fetched; "
        "the function imports the installed package yaml instead"]
