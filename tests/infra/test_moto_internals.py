"""moto is pinned because the local cloud replaces its internals: fail loudly if an upgrade moved them."""
from __future__ import annotations

import inspect
from importlib.metadata import version


def test_moto_is_the_pinned_version():
    assert version("moto") == "5.2.5", "the local cloud patches moto internals; re-check them before upgrading"


def test_lambda_invoke_hook_is_where_the_runtime_replaces_it():
    from moto.awslambda.models import LambdaFunction

    params = list(inspect.signature(LambdaFunction._invoke_lambda).parameters)
    assert params == ["self", "event"]
    # moto's invoke calls _invoke_lambda and expects (payload, errored, logs)
    assert "self._invoke_lambda(event=body)" in inspect.getsource(LambdaFunction.invoke)


def test_sqs_queue_keeps_event_source_mappings_where_deploy_detaches_them():
    from moto.sqs.models import Queue, sqs_backends

    assert "lambda_event_source_mappings" in inspect.getsource(Queue.__init__)
    assert hasattr(sqs_backends, "__getitem__")


def test_emulator_switches_and_reset_exist():
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.core.config import default_user_config
    from moto.moto_api._internal.models import moto_api_backend
    from moto.server import ThreadedMotoServer

    assert default_user_config["stepfunctions"] == {"execute_state_machine": False}
    assert callable(moto_api_backend.reset)
    assert callable(ThreadedMotoServer.get_host_and_port)
    assert "process_request" in dir(BotocoreStubber)


def test_runtime_patch_round_trip():
    import moto.awslambda.models as models

    from infra.runtime import LambdaRuntime, attach_to_moto

    original = models.LambdaFunction._invoke_lambda
    attach_to_moto(LambdaRuntime())
    try:
        assert models.LambdaFunction._invoke_lambda is not original
    finally:
        attach_to_moto(None)
    assert models.LambdaFunction._invoke_lambda is original


def test_step_functions_lambda_tasks_get_their_client_where_the_emulator_reuses_it():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    assert "boto_client_for(" in inspect.getsource(lambda_eval_utils.exec_lambda_function)
    assert list(inspect.signature(lambda_eval_utils.boto_client_for).parameters)[:2] in (
        ["region", "service"], ["service", "region"])


def test_asl_parser_is_built_the_way_the_emulator_rebuilds_it():
    from moto.stepfunctions.parser.asl.parse import asl_parser

    source = inspect.getsource(asl_parser)
    for piece in ("SyntaxErrorListener()", "ASLLexer(input_stream)", "CommonTokenStream(lexer)",
                  "parser.state_machine()", "Preprocessor()", "ASLParserException(errors=errors)"):
        assert piece in source, piece
