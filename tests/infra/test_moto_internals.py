"""moto is pinned because the local cloud replaces its internals: fail loudly if an upgrade moved them."""
from __future__ import annotations

import copy
import inspect
import json
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


def test_moto_s_event_source_mappings_are_where_the_mapping_patches_read_them():
    """lambda-mappings-*: LambdaBackend.create_event_source_mapping(spec) answers the EventSourceMapping it keeps in
    _event_source_mappings by uuid (and attaches it to the queue by function ARN, to a table by function ARN, to a
    Kinesis stream by the stream's ARN: infra.event_sources.detach_from_moto takes it off again);
    update_event_source_mapping(uuid, spec) answers it (None when unknown), delete_event_source_mapping(uuid)
    answers the one removed; get_configuration() names UUID, FunctionArn, EventSourceArn and State as the Lambda API
    does (infra.event_sources reads those)."""
    from moto.awslambda.models import EventSourceMapping, LambdaBackend

    assert list(inspect.signature(LambdaBackend.create_event_source_mapping).parameters) == ["self", "spec"]
    assert list(inspect.signature(LambdaBackend.update_event_source_mapping).parameters) == ["self", "uuid", "spec"]
    assert list(inspect.signature(LambdaBackend.delete_event_source_mapping).parameters) == ["self", "uuid"]
    create = inspect.getsource(LambdaBackend.create_event_source_mapping)
    assert create.count("self._event_source_mappings[esm.uuid] = esm") == 3
    assert "queue.lambda_event_source_mappings[esm.function_arn] = esm" in create
    assert "table.lambda_event_source_mappings[esm.function_arn] = esm" in create
    assert "stream.lambda_event_source_mappings[esm.event_source_arn] = esm" in create
    assert "return self._event_source_mappings.pop(uuid, None)" in inspect.getsource(
        LambdaBackend.delete_event_source_mapping)
    configuration = inspect.getsource(EventSourceMapping.get_configuration)
    for key in ('"UUID": self.uuid', '"FunctionArn": self.function_arn', '"EventSourceArn": self.event_source_arn',
                '"State": "Enabled" if self.enabled else "Disabled"'):
        assert key in configuration


def test_moto_s_pipes_are_where_the_pipe_patches_read_them():
    """pipes-*: EventBridgePipesBackend.create_pipe / update_pipe / start_pipe / stop_pipe answer the Pipe, whose
    name, source, target, source_parameters, target_parameters, enrichment, enrichment_parameters and desired_state
    (RUNNING or STOPPED) the patch reads; delete_pipe(name) is called with the name (its response passes name=)."""
    from moto.pipes.models import EventBridgePipesBackend, Pipe

    for operation in ("create_pipe", "update_pipe", "start_pipe", "stop_pipe", "delete_pipe"):
        assert "return pipe" in inspect.getsource(getattr(EventBridgePipesBackend, operation)), operation
    assert list(inspect.signature(EventBridgePipesBackend.delete_pipe).parameters) == ["self", "name"]
    assert 'pipe.desired_state = PipeStatus.STOPPED.value' in inspect.getsource(EventBridgePipesBackend.stop_pipe)
    assert 'pipe.desired_state = PipeStatus.RUNNING.value' in inspect.getsource(EventBridgePipesBackend.start_pipe)
    made = inspect.getsource(Pipe.__init__)
    for attribute in ("name", "source", "target", "source_parameters", "target_parameters", "enrichment",
                      "enrichment_parameters"):
        assert f"self.{attribute} = {attribute}" in made, attribute
    assert "self.desired_state = desired_state or PipeStatus.RUNNING.value" in made


def test_moto_s_cognito_keeps_pools_where_the_kept_ids_and_the_durable_state_read_them():
    """keep_user_pool_id / keep_user_pool_client_id re-key a new pool in CognitoIdpBackend.user_pools (by id; its id
    and arn name it) and a new client in the pool's `clients` (by id; `secret`, `generate_secret`); the durable
    state keeps a pool's users, groups (users and groups name each other: `groups` / `users` sets),
    refresh_tokens, access_tokens and id_tokens, and journals after CognitoIdpResponse.call_action (BaseResponse's,
    which reads the action from self._get_action())."""
    from moto.cognitoidp.models import CognitoIdpBackend, CognitoIdpUserPool, CognitoIdpUserPoolClient
    from moto.cognitoidp.responses import CognitoIdpResponse
    from moto.core.responses import BaseResponse

    assert "self.user_pools[user_pool.id] = user_pool" in inspect.getsource(CognitoIdpBackend.create_user_pool)
    made = inspect.getsource(CognitoIdpUserPool.__init__)
    assert 'self.arn = f"arn:{get_partition(region)}:cognito-idp:{region}:{account_id}:userpool/{self.id}"' in made
    for attribute in ("clients", "groups", "users", "refresh_tokens", "access_tokens", "id_tokens"):
        assert f"self.{attribute}: dict[" in made, attribute
    assert "user_pool.clients[user_pool_client.id] = user_pool_client" in inspect.getsource(
        CognitoIdpBackend.create_user_pool_client)
    client = inspect.getsource(CognitoIdpUserPoolClient.__init__)
    assert "self.secret = str(random.uuid4())" in client and "self.generate_secret = generate_secret" in client
    from infra.moto_patches import PERSISTENCE_PATCHES

    [journaling] = [patch for patch in PERSISTENCE_PATCHES if patch.name == "persist-cognito-request"]
    assert "call_action" not in vars(CognitoIdpResponse) or journaling.applied  # moto's is BaseResponse's
    assert "action = camelcase_to_underscores(self._get_action())" in inspect.getsource(BaseResponse.call_action)


def test_moto_s_firehose_puts_go_through_put_record_batch_where_the_firehose_patch_buffers_them():
    """firehose-buffers-and-delivers: FirehoseBackend.put_record(name, record) calls put_record_batch(name,
    [record]), which the responses call with the stream's name and the request's Records (each a dict with Data);
    the patch answers moto's shape (FailedPutCount, Encrypted, RequestResponses of RecordId)."""
    from moto.firehose.models import FirehoseBackend
    from moto.firehose.responses import FirehoseResponse

    assert list(inspect.signature(FirehoseBackend.put_record_batch).parameters) == [
        "self", "delivery_stream_name", "records"]
    assert "result = self.put_record_batch(delivery_stream_name, [record])" in inspect.getsource(
        FirehoseBackend.put_record)
    assert 'self._get_param("DeliveryStreamName"), self._get_param("Records")' in inspect.getsource(
        FirehoseResponse.put_record_batch)
    original = inspect.getsource(FirehoseBackend.put_record_batch)
    assert '"FailedPutCount": 0' in original and '"RequestResponses": request_responses' in original


def test_emulator_switches_and_reset_exist():
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.core.config import default_user_config
    from moto.moto_api._internal.models import moto_api_backend
    from moto.server import ThreadedMotoServer

    assert default_user_config["stepfunctions"] == {"execute_state_machine": False}
    assert callable(moto_api_backend.reset)
    # the emulator serves moto's application as ThreadedMotoServer does (infra/emulator._MotoServer), with its own poll
    entry = inspect.getsource(ThreadedMotoServer._server_entry)
    assert "DomainDispatcherApplication(create_backend_app)" in entry and "request_handler=MotoRequestHandler" in entry
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


def test_step_functions_lambda_and_dynamodb_tasks_get_their_client_where_the_emulator_reuses_it():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_dynamodb

    assert "boto_client_for(" in inspect.getsource(lambda_eval_utils.exec_lambda_function)
    assert "boto_client_for(" in inspect.getsource(
        state_task_service_dynamodb.StateTaskServiceDynamoDB._eval_service_task)
    for module in (lambda_eval_utils, state_task_service_dynamodb):
        assert list(inspect.signature(module.boto_client_for).parameters)[:2] in (
            ["region", "service"], ["service", "region"])


def test_asl_parser_is_built_the_way_the_emulator_rebuilds_it():
    from moto.stepfunctions.parser.asl.parse import asl_parser

    source = inspect.getsource(asl_parser)
    for piece in ("SyntaxErrorListener()", "ASLLexer(input_stream)", "CommonTokenStream(lexer)",
                  "parser.state_machine()", "Preprocessor()", "ASLParserException(errors=errors)"):
        assert piece in source, piece



def test_what_moto_does_with_an_asl_parse_is_what_the_program_cache_serves():
    """moto_patches._cached_programs answers a definition read from its cache with the program and a parse tree
    made when first used: moto's backend takes the program of a parse (execution) or only its errors (create),
    and uses the tree only where a static analyser visits it (visit() calls the tree's accept())."""
    import re
    from pathlib import Path

    import moto.stepfunctions
    from moto.stepfunctions.parser.asl.static_analyser.static_analyser import StaticAnalyser

    root = Path(moto.stepfunctions.__file__).parent
    calls = {}
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        for match in re.finditer(r"\bAmazonStateLanguageParser\.parse\(", text):
            calls.setdefault(str(path.relative_to(root)), []).append(text[match.start() - 40:match.end() + 120])
    assert set(calls) == {"parser/models.py", "parser/backend/execution_worker.py",
                          "parser/asl/static_analyser/static_analyser.py"}, calls
    assert ")[0]" in calls["parser/backend/execution_worker.py"][0], calls
    assert re.search(r"\n\s+AmazonStateLanguageParser\.parse\(definition\)\n", calls["parser/models.py"][0])
    analyse = inspect.getsource(StaticAnalyser.analyse)
    assert "_, parser_rule_context = AmazonStateLanguageParser.parse(definition)" in analyse, analyse
    assert "self.visit(parser_rule_context)" in analyse, analyse


def test_a_program_from_the_cache_is_the_parsed_one_and_its_tree_is_parsed_when_used(tmp_path, monkeypatch):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.static_analyser.variable_references_static_analyser import (
        VariableReferencesStaticAnalyser,
    )

    from infra import moto_patches as patches

    monkeypatch.setenv("NOTIFYX_CACHE_DIR", str(tmp_path))
    definition = json.dumps({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"x.$": "$.n"}, "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"y.$": "$x"}, "End": True}}})
    patches.apply_emulator()
    try:
        parse = AmazonStateLanguageParser.parse
        patches._programs.clear()
        parsed, _ = parse(definition)  # parsed, and written to the cache
        assert len(list((tmp_path / "asl").iterdir())) == 1
        # what DescribeStateMachineForExecution reports of the definition (a static analyser visits its tree)
        assert VariableReferencesStaticAnalyser.process_and_get(definition=definition) == {"B": ["x"]}
        patches._programs.clear()  # as in a new process: the program comes from the cache
        cached, tree = parse(definition)
        assert isinstance(tree, patches._TreeWhenUsed) and tree._tree is None
        assert copy.copy(tree)._tree is None  # copying it parses nothing (and does not recurse)
        assert type(cached) is type(parsed) and cached is not parsed
        assert VariableReferencesStaticAnalyser.process_and_get(definition=definition) == {"B": ["x"]}
        assert tree._tree is not None  # parsed when the analyser visited it
    finally:
        patches.revert_emulator()
        patches._programs.clear()


# --------------------------------------------------------------------------- infra/moto_patches.py and the direct paths
def test_every_patch_applies_and_reverts_to_mocks_original():
    from infra import moto_patches as patches

    originals = {p.name: vars(p.owner()).get(p.attr) for p in patches.EMULATOR_PATCHES}
    patches.apply_emulator()
    try:
        for p in patches.EMULATOR_PATCHES:
            assert vars(p.owner())[p.attr] is not originals[p.name], p.name
    finally:
        patches.revert_emulator()
    for p in patches.EMULATOR_PATCHES:  # an attribute a patch added (None before) is gone again
        assert vars(p.owner()).get(p.attr) is originals[p.name], p.name


def test_an_accounts_backend_is_made_and_registered_only_where_the_lookup_fast_path_assumes():
    """backend-lookup-without-registration-scan answers an existing account from the dict: moto must create an
    account's backend only together with the BackendDict's registration, and reset must clear both."""
    from moto.core.base_backend import BackendDict

    from infra import moto_patches

    assert "self._create_account_specific_backend(account_id)" in inspect.getsource(BackendDict.__getitem__)
    create = inspect.getsource(BackendDict._create_account_specific_backend)
    assert "self[account_id] = AccountSpecificBackend(" in create and "BackendDict._instances.append(self)" in create
    reset = inspect.getsource(BackendDict.reset)
    assert "backend.clear()" in reset and "BackendDict._instances.clear()" in reset
    assert [name for name in vars(BackendDict) if name in ("__contains__", "get", "setdefault")] == []

    from moto.sns.models import SNSBackend

    patch = moto_patches.patch("backend-lookup-without-registration-scan")
    backends = BackendDict(SNSBackend, "sns")
    was_applied = patch.applied
    patch.apply()
    try:
        first = backends["111122223333"]  # made and registered by moto's own path
        assert backends["111122223333"] is first
        assert any(registered is backends for registered in BackendDict._instances)
        assert backends["111122223333"]["us-east-1"] is first["us-east-1"]
    finally:
        if not was_applied:
            patch.revert()
        BackendDict._instances[:] = [b for b in BackendDict._instances if b is not backends]


def test_transact_write_items_backs_up_tables_the_way_the_journal_replaces():
    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import StreamShard, Table

    source = inspect.getsource(models.DynamoDBBackend.transact_write_items)
    # the backup the journal stands in for, and the rollback that puts the (same) table object back
    assert "copy.deepcopy(\n                    self.tables[table_name]\n                )" in source
    assert "self.tables[table_name] = original_table_state[table_name]" in source
    assert "import copy" in inspect.getsource(models) and models.copy is __import__("copy")
    # where items and stream records live
    assert "self.items = defaultdict(dict)" in inspect.getsource(Table.__init__)
    assert "self.items.append(StreamRecord(" in inspect.getsource(StreamShard.add)


def test_dynamodb_handler_methods_the_direct_path_calls():
    from moto.core.responses import ActionResult, BaseResponse
    from moto.dynamodb.responses import DynamoHandler

    from infra.emulator import DIRECT_DYNAMODB_OPERATIONS, _snake

    for method in map(_snake, DIRECT_DYNAMODB_OPERATIONS):
        assert callable(getattr(DynamoHandler, method)), method
    assert "self.body = getattr(self, \"params\", {})" in inspect.getsource(DynamoHandler.call_action)
    assert "except ServiceException as e:" in inspect.getsource(BaseResponse.call_action)
    assert callable(BaseResponse.serialized) and hasattr(ActionResult, "result")


def test_state_machine_executions_are_a_list_the_retention_prunes():
    import moto.stepfunctions.models as models
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend


    assert "self.executions: list[Execution] = []" in inspect.getsource(models)
    start = inspect.getsource(StepFunctionsParserBackend.start_execution)
    assert "state_machine.executions.append(execution)" in start
    # sfn-execution-names-indexed: the name check is a scan of that list by name, asked before the append; a name
    # that is not there gets None
    assert start.index("state_machine._handle_name_input_idempotency(") < start.index(".executions.append(")
    check = inspect.getsource(models.StateMachine._handle_name_input_idempotency)
    assert "for execution in self.executions:\n            if execution.name == name:" in check
    assert check.rstrip().endswith("return None")
    # sfn-named-executions: the interpreter's start takes the name as given (moto's own backend names an unnamed
    # one and checks names with _validate_name); the name is its second parameter
    assert list(inspect.signature(StepFunctionsParserBackend.start_execution).parameters)[:3] == [
        "self", "state_machine_arn", "name"]
    assert "exec_name = name" in start and "_validate_name" not in start
    base_start = inspect.getsource(models.StepFunctionBackend.start_execution)
    assert "if name:\n            self._validate_name(name)" in base_start


def test_json_path_parsers_are_module_level_names():
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    assert "input_expr = parse(path)" in inspect.getsource(json_path.extract_json)
    assert "parse(self.result_path_src)" in inspect.getsource(result_path)


def test_step_functions_thread_list_is_only_appended_to():
    import importlib
    import pathlib

    import moto.stepfunctions.parser as parser

    from infra.moto_patches import _THREAD_LIST_MODULES

    uses = []
    for path in pathlib.Path(parser.__file__).parent.rglob("*.py"):
        for line in path.read_text().splitlines():
            if "TMP_THREADS" in line:
                uses.append(line.strip())
    assert all(u.startswith(("from moto.stepfunctions.parser.utils import TMP_THREADS", "TMP_THREADS.append(",
                             "TMP_THREADS = []")) for u in uses), uses
    importers = sum(u.startswith("from moto.stepfunctions.parser.utils import TMP_THREADS") for u in uses)
    assert importers == len(_THREAD_LIST_MODULES)
    for name in _THREAD_LIST_MODULES:
        assert isinstance(importlib.import_module(name).TMP_THREADS, list)


def test_response_dispatch_looks_methods_up_by_name_in_what_the_cache_answers():
    from moto.core import responses

    # the cached replacement answers a frozenset; moto only tests membership in it
    source = inspect.getsource(responses.BaseResponse.call_action)
    assert "method_names = method_names_from_class(self.__class__)" in source
    assert "if action in method_names:" in source
    assert callable(responses.method_names_from_class)


def test_step_functions_handler_methods_the_direct_path_calls():
    from moto.core.serialize import TimestampSerializer
    from moto.stepfunctions.responses import StepFunctionResponse

    from infra.emulator import DIRECT_SFN_OPERATIONS, _snake

    for operation in DIRECT_SFN_OPERATIONS - {"StartSyncExecution"}:  # that one is the emulator's own (moto_patches)
        source = inspect.getsource(getattr(StepFunctionResponse, _snake(operation)))
        assert "return ActionResult(response)" in source, operation
    # timestamps go on the wire as epoch seconds to the millisecond: the direct path converts the same way
    assert callable(TimestampSerializer._timestamp_unixtimestamp)


def test_logs_backend_calls_lambda_log_shipping_makes():
    from moto.logs.models import LogsBackend

    assert list(inspect.signature(LogsBackend.create_log_group).parameters)[:3] == ["self", "log_group_name", "tags"]
    assert list(inspect.signature(LogsBackend.create_log_stream).parameters) == [
        "self", "log_group_name", "log_stream_name"]
    assert list(inspect.signature(LogsBackend.put_log_events).parameters)[:4] == [
        "self", "log_group_name", "log_stream_name", "log_events"]
    assert "self.groups" in inspect.getsource(LogsBackend.__init__)


def test_update_expressions_are_parsed_and_copied_where_the_emulator_shortcuts_them():
    import moto.dynamodb.models as models
    import moto.dynamodb.parsing.validators as validators
    from moto.dynamodb.parsing.ast_nodes import Node
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.responses import DynamoHandler

    # the validator works on its own copy, so a parsed tree can be shared between calls
    assert "self.node_to_validate = deepcopy(expression)" in inspect.getsource(validators.Validator.__init__)
    assert validators.deepcopy is not None
    assert isinstance(inspect.getattr_static(UpdateExpressionParser, "make"), classmethod)
    # the handler only reads the tree it parses; the backend hands its parse to validators
    handler = inspect.getsource(DynamoHandler.update_item)
    assert "update_expression_ast = UpdateExpressionParser.make(update_expression)" in handler
    assert "update_expression_ast.find_clauses(" in handler
    backend = inspect.getsource(models.DynamoDBBackend.update_item)
    assert backend.count("update_expression_ast") == 3 and "UpdateExpressionValidator(" in backend
    # the tree's nodes keep their state in __dict__ (children, parent, type), which the copy relies on
    assert "self.parent = None" in inspect.getsource(Node.__init__)


def test_the_update_checks_skipped_once_passed_read_only_the_tree_names_and_keys():
    """moto_patches._tree_checks_once runs three validators as the validator is made, and only until they passed
    for a tree, names and key attributes. When it was written they read only the tree, the names (OverlappingPaths,
    UpdateHashRangeKey) and the table's key attributes, changed nothing, and could only raise: their source is
    pinned whole, so any change in moto asks for that reading again. validate() must run the processors left in
    order on node_to_validate, and moto must validate right after making each validator."""
    import hashlib

    import moto.dynamodb.parsing.validators as validators

    from infra.moto_patches import _TREE_ONLY_VALIDATORS

    pinned = {"ActionCountValidator": "3fe995f04a9c4a2d", "OverlappingPathsValidator": "27f48a77a1762303",
              "UpdateHashRangeKeyValidator": "18ca06e4b0d82e64"}
    assert set(_TREE_ONLY_VALIDATORS) == set(pinned)
    for name, digest in pinned.items():
        assert hashlib.sha256(inspect.getsource(getattr(validators, name)).encode()).hexdigest()[:16] == digest, name
    processors = inspect.getsource(validators.UpdateExpressionValidator.get_ast_processors)
    for built in ("ActionCountValidator()", "OverlappingPathsValidator(self.expression_attribute_names)",
                  "self.table.table_key_attrs, self.expression_attribute_names or {}"):
        assert built in processors, built
    assert inspect.getsource(validators.Validator.validate) == (
        "    def validate(self) -> Node:\n        n = self.node_to_validate\n"
        "        for processor in self.processors:\n            n = processor.traverse(n)\n        return n\n")
    assert "self.processors = self.get_ast_processors()" in inspect.getsource(validators.Validator.__init__)
    import moto.dynamodb.models as models

    backend = inspect.getsource(models.DynamoDBBackend.update_item)
    assert backend.count("UpdateExpressionValidator(") == 2
    assert "                ).validate()\n" in backend
    assert "            )\n            validated_ast = validator.validate()\n" in backend
    assert list(inspect.signature(validators.Validator.__init__).parameters) == [
        "self", "expression", "expression_attribute_names", "expression_attribute_values", "item", "table"]


def test_expression_traversal_is_what_the_dispatched_traversal_reproduces():
    """moto_patches._dispatched_traversal reimplements DepthFirstTraverser.traverse_node_recursively: its steps,
    and that no traverser overrides the methods it folds in."""
    import moto.dynamodb.parsing.validators as validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser

    source = inspect.getsource(DepthFirstTraverser.traverse_node_recursively)
    for step in ("parent_node = node.parent", "for i, child_node in enumerate(node.children):",
                 "self.pre_processing_of_child(node, i)", "self.traverse_node_recursively(child_node, i)",
                 "if isinstance(node, self.nodes_to_be_processed()):", "node = self.process(node)",
                 "node.parent = parent_node", "parent_node.children[child_id] = node"):
        assert step in source, step
    assert "return self.traverse_node_recursively(node)" in inspect.getsource(DepthFirstTraverser.traverse)
    # the child hook it skips where a traverser keeps the base class's: that one does nothing
    hook = inspect.getsource(DepthFirstTraverser.pre_processing_of_child)
    assert hook.rstrip().endswith("pass") and hook.count("\n") == 3, hook
    assert "for class_key, processor in self._processing_map().items():" in inspect.getsource(
        DepthFirstTraverser.process)
    from moto.dynamodb.parsing.ast_nodes import Node

    # and Node.find_clauses, which moto_patches._typed_find_clauses reproduces (no node type overrides it)
    clauses = inspect.getsource(Node.find_clauses)
    for step in ("for child in self.children or []:", "if type(child) in clause_types:",
                 "elif isinstance(child, Expression):", "elif isinstance(child, UpdateExpressionFunction):",
                 "clauses.extend(child.find_clauses(clause_types))"):
        assert step in clauses, step
    import moto.dynamodb.parsing.ast_nodes as ast_nodes

    assert [c for c in vars(ast_nodes).values() if isinstance(c, type) and issubclass(c, Node)
            and "find_clauses" in vars(c)] == [Node]
    traversers = [c for c in vars(validators).values()
                  if isinstance(c, type) and issubclass(c, DepthFirstTraverser) and c is not DepthFirstTraverser]
    assert len(traversers) >= 10
    for cls in traversers:
        for name in ("traverse", "traverse_node_recursively", "process", "nodes_to_be_processed"):
            assert name not in vars(cls), (cls, name)


def test_the_interpreter_modules_copy_state_data_with_the_copy_module():
    """sfn-json-copy-* replace these modules' ``copy`` (the module): each imports it whole and deep-copies
    through it."""
    import importlib

    from infra import moto_patches

    for name in moto_patches._JSON_COPY_MODULES:
        module = importlib.import_module(name)
        source = inspect.getsource(module)
        assert "import copy\n" in source.splitlines(keepends=True) and "copy.deepcopy(" in source, name
        assert "from copy import" not in source, name


def test_step_functions_interpreter_needs_only_batch_utils_from_moto_batch():
    import pathlib
    import re
    import subprocess
    import sys

    import moto.stepfunctions.parser as parser

    imports = set()
    for path in pathlib.Path(parser.__file__).parent.rglob("*.py"):
        imports.update(re.findall(r"^\s*(?:from|import) (moto\.batch\S*)", path.read_text(), re.M))
    assert imports == {"moto.batch.utils"}
    # in a fresh interpreter: no moto.ec2 while importing it, and moto.batch still imports whole afterwards
    probe = ("import sys; from infra import moto_patches; moto_patches.import_sfn_interpreter(); "
             "assert 'moto.stepfunctions.parser.models' in sys.modules and 'moto.ec2' not in sys.modules; "
             "assert 'moto.batch' not in sys.modules; import moto.batch; "
             "from moto.batch.models import batch_backends; assert 'moto.ec2' in sys.modules")
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=pathlib.Path(__file__).resolve().parents[2])


def test_table_query_reads_partitions_the_way_the_partition_shortcut_narrows():
    from moto.dynamodb.models.table import Table

    params = list(inspect.signature(Table.query).parameters)
    assert params[:9] == ["self", "hash_key", "range_comparison", "range_objs", "limit", "exclusive_start_key",
                          "scan_index_forward", "projection_expressions", "index_name"]
    source = inspect.getsource(Table.query)
    # the key's branch keeps the items of all_items() with this hash key; it reads the table through `self` only
    assert ("for item in self.all_items()\n"
            "                if isinstance(item, Item) and item.hash_key == hash_key") in source
    assert "self.items" not in source
    # items are kept by hash key, then range key
    put = inspect.getsource(Table.put_item)
    assert "self.items[hash_value][range_value] = item" in put and "self.items[hash_value] = item" in put


def test_condition_expressions_are_lexed_where_the_emulator_caches_the_tokens():
    import re

    from moto.dynamodb.comparisons import ConditionExpressionParser

    parse = inspect.getsource(ConditionExpressionParser.parse)
    assert "nodes = self._lex_condition_expression()" in parse
    lex = inspect.getsource(ConditionExpressionParser._lex_condition_expression)
    assert "remaining_expression = self.condition_expression" in lex
    # tokens are namedtuples; no stage changes a node's children in place
    assert issubclass(ConditionExpressionParser.Node, tuple)
    module = inspect.getsource(inspect.getmodule(ConditionExpressionParser))
    assert not re.search(r"children\.(append|extend|insert|pop|remove)|children\[[^]]*\] *=", module)


def test_a_states_context_is_made_where_the_emulator_writes_its_entered_time():
    from moto.stepfunctions.parser.asl.component.state import state

    source = inspect.getsource(state)
    assert "from moto.stepfunctions.parser.asl.eval.states import StateData" in source
    assert "StateData(\n            EnteredTime=datetime.datetime.now(tz=datetime.timezone.utc).isoformat()," in source
    assert source.count("StateData(") == 1


def test_parallel_branch_workers_start_the_way_the_emulator_names_them():
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker import BranchWorker

    source = inspect.getsource(BranchWorker.start)
    assert 'name=f"BranchWorker_${self._program}"' in source
    assert "target=self._thread_routine" in source and "self._worker_thread.start()" in source
    assert "self._worker_thread = None" in inspect.getsource(BranchWorker.__init__)


def test_model_instances_are_tracked_where_the_emulator_makes_the_tracking_weak():
    from moto.core import model_instances
    from moto.core.base_backend import InstanceTrackerMeta
    from moto.core.common_models import BaseModel
    from moto.moto_api._internal.responses import MotoAPIResponse

    assert "cls.instances_tracked.append(instance)" in inspect.getsource(BaseModel.__new__)
    assert "cls.instances_tracked: ClassVar[list[BaseModel]] = []" in inspect.getsource(InstanceTrackerMeta.__new__)
    assert "model.instances_tracked = []" in inspect.getsource(model_instances.reset_model_data)
    # what reads the lists only iterates them
    assert "for instance in model.instances_tracked:" in inspect.getsource(MotoAPIResponse.model_data)


def test_retention_bounds_touch_these_moto_internals():
    """sfn-finished-history-compacted, dynamodb-stream-retention / -trim-horizon and the X-Ray TraceStore."""
    from moto.dynamodb.models.table import StreamShard
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.xray.models import SegmentCollection, TraceSegment, XRayBackend

    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    # history is read from the event manager only, a copy of its list under its mutex; terminated is the
    # worker's last step
    assert "with self._mutex:\n            return copy.deepcopy(self._history_event_list)" in inspect.getsource(
        EventManager.get_event_history)
    # DescribeExecution: the execution of that ARN among its state machine's, or ExecutionDoesNotExist
    assert "state_machine.executions if x.execution_arn == execution_arn" in inspect.getsource(
        StepFunctionBackend.describe_execution)
    assert "env.event_manager.get_event_history()" in inspect.getsource(Execution.to_history_output)
    assert inspect.getsource(ExecutionWorker._execution_logic).rstrip().endswith(
        "self._execution_communication.terminated()")
    assert "self._reflect_execution_status()" in inspect.getsource(BaseExecutionWorkerCommunication.terminated)
    # stream numbering is relative to starting_sequence_number
    assert "seq = len(self.items) + self.starting_sequence_number" in inspect.getsource(StreamShard.add)
    assert "start -= self.starting_sequence_number" in inspect.getsource(StreamShard.get)
    # stream shard iterators live in the streams backend's dict, one more with every read
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

    assert "self.shard_iterators: dict[str, ShardIterator] = {}" in inspect.getsource(DynamoDBStreamsBackend.__init__)
    assert "shard_iterator = self.shard_iterators[iterator_arn]" in inspect.getsource(
        DynamoDBStreamsBackend.get_records)
    assert "self.streams_backend.shard_iterators[new_shard_iterator.arn] = (" in inspect.getsource(ShardIterator.get)
    # traces by id, each segment keeping its raw document
    assert "self._traces: dict[str, dict[str, Any]]" in inspect.getsource(SegmentCollection.__init__)
    assert "raw=doc" in inspect.getsource(XRayBackend.process_segment)
    assert "self.raw = raw" in inspect.getsource(TraceSegment.__init__)


def test_the_interpreter_asks_of_its_threads_only_what_pooled_threads_give():
    """sfn-pooled-threads-*: where moto's interpreter starts its threads, how it names the class, and what it uses
    of a thread (infra/moto_patches.py _PooledThread gives a target with args, start, join with a timeout,
    is_alive and native_id)."""
    import importlib
    import re

    from infra import moto_patches

    uses = set()
    for module_name, attr in moto_patches._POOLED_THREAD_MODULES:
        source = inspect.getsource(importlib.import_module(module_name))
        started = re.findall(r"(\w+) = (?:threading\.)?Thread\(", source)
        assert started, module_name
        assert ("import threading\n" in source) if attr == "threading" else ("from threading import Thread\n" in source)
        for name in started:
            uses |= set(re.findall(rf"\b{name}\.(\w+)", source))
        for call in re.findall(r"(?:threading\.)?Thread\(([^)]*)\)", source):
            assert {k.split("=")[0].strip() for k in call.split(",") if "=" in k} <= {"target", "args", "name",
                                                                                      "daemon"}, call
    assert uses == {"start", "join", "is_alive", "native_id"}, uses
    from moto.stepfunctions.parser.asl.component.program import program

    assert "worker_thread.join(timeout=timeout)\n        is_timeout = worker_thread.is_alive()" in inspect.getsource(
        program.Program.eval)


def test_the_signed_region_is_read_by_moto_s_helper():
    """InProcessRequests answers a request from the region of its SigV4 credential scope with moto's
    extract_region_from_aws_authorization; a header without a scope gives None."""
    from moto.core.utils import extract_region_from_aws_authorization

    header = ("AWS4-HMAC-SHA256 Credential=testing/20261206/eu-west-1/dynamodb/aws4_request, "
              "SignedHeaders=host;x-amz-date, Signature=abc")
    assert extract_region_from_aws_authorization(header) == "eu-west-1"
    assert extract_region_from_aws_authorization("Bearer token") is None


def test_an_execution_takes_a_stop_only_once_its_program_runs_and_a_wait_sleeps_on_the_pulse():
    """sfn-stop-right-after-start waits for what these show: the worker makes its environment in the execution's
    thread, the environment takes a stop only while its program runs (its state is None until Program.eval names
    the first state), a program stopped before its loop began is pruned (no ExecutionAborted), its history is the
    event manager's _history_event_list, and stop() sets the stop on the environment. sfn-wait-notices-a-stop
    replaces a Wait state's sleep on program_state_event, which a stop sets and clears at once."""
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    assert "self.env = self._get_evaluation_environment()" in inspect.getsource(ExecutionWorker._execution_logic)
    assert "self.env.set_stop(stop_date=stop_date, cause=cause, error=error)" in inspect.getsource(
        ExecutionWorker.stop)
    assert list(inspect.signature(ExecutionWorker.stop).parameters) == ["self", "stop_date", "error", "cause"]
    assert "self._program_state = None" in inspect.getsource(Environment.__init__)
    set_stop = inspect.getsource(Environment.set_stop)
    assert "if isinstance(self._program_state, ProgramRunning):" in set_stop
    assert "self.program_state_event.set()\n                self.program_state_event.clear()" in set_stop
    assert "env.next_state_name = self.start_at.start_at_name" in inspect.getsource(Program.eval)
    assert "if env.is_running():" in inspect.getsource(EvalComponent.eval)
    assert "while env.is_running():" in inspect.getsource(Program._eval_body)
    assert "self._history_event_list.append(" in inspect.getsource(EventManager._publish_history_event)
    assert "env.program_state_event.wait(wait_seconds)" in inspect.getsource(WaitFunction._wait_interval)
    assert list(inspect.signature(WaitFunction._wait_interval).parameters) == ["self", "env", "wait_seconds"]


def test_branches_errors_statuses_and_histories_are_where_the_stop_and_history_patches_look():
    """sfn-branch-always-ends rewrites BranchWorker._thread_routine (its program's eval, then on_terminated);
    sfn-stopped-stays-aborted decides under Environment's RLock that set_error leaves a ProgramStopped alone;
    sfn-listed-before-started gives Execution.status for exec_status None (set RUNNING only in start());
    sfn-execution-history-pages reads the backend's whole history ({"events": [...]}, ids ascending) and pages it."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker import BranchWorker
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped  # noqa: F401 - the patch imports it
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    routine = inspect.getsource(BranchWorker._thread_routine)
    assert "self._program.eval(self.env)" in routine
    assert "self._branch_worker_comm.on_terminated(env=self.env)" in routine
    init = inspect.getsource(BranchWorker.__init__)
    assert "self._branch_worker_comm = branch_worker_comm" in init and "self.env = env" in init
    assert "self._program = program" in init
    assert "self._state_mutex = threading.RLock()" in inspect.getsource(Environment.__init__)
    assert list(inspect.signature(Environment.set_error).parameters) == ["self", "error"]
    assert "self._program_state = ProgramError(error=error)" in inspect.getsource(Environment.set_error)
    assert isinstance(vars(Execution)["status"], property)
    assert "return self.exec_status.value" in inspect.getsource(vars(Execution)["status"].fget)
    assert "self.exec_status = None" in inspect.getsource(Execution.__init__)
    assert "self.exec_status = ExecutionStatus.RUNNING" in inspect.getsource(Execution.start)
    assert list(inspect.signature(StepFunctionsParserBackend.get_execution_history).parameters) == [
        "self", "execution_arn"]
    assert "execution_history = self.stepfunction_backend.get_execution_history(" in inspect.getsource(
        StepFunctionResponse.get_execution_history)


def test_sqs_queues_guard_their_messages_with_the_lock_the_receive_and_delete_patches_take():
    """sqs-receive-one-at-a-time, sqs-delete-under-the-queue-lock and sqs-visibility-under-the-queue-lock take the
    queue's _messages_lock (a Condition over an RLock, what add_message appends under and wait_for_messages waits
    on) and call moto's receive without a wait, which must then return after one look."""
    import threading

    from moto.sqs.models import Queue, SQSBackend

    assert "self._messages_lock = Condition()" in inspect.getsource(Queue.__init__)
    assert type(threading.Condition()._lock) is type(threading.RLock())
    assert "with self._messages_lock:\n            self._messages.append(message)" in inspect.getsource(
        Queue.add_message)
    assert "self._messages_lock.wait_for(" in inspect.getsource(Queue.wait_for_messages)
    receive = inspect.getsource(SQSBackend.receive_message)
    assert "if wait_seconds_timeout == 0:" in receive and "message.mark_received(" in receive
    assert list(inspect.signature(SQSBackend.receive_message).parameters) == [
        "self", "queue_name", "count", "wait_seconds_timeout", "visibility_timeout", "message_attribute_names"]
    assert list(inspect.signature(Queue.delete_message).parameters) == ["self", "receipt_handle"]
    assert list(inspect.signature(SQSBackend.change_message_visibility).parameters) == [
        "self", "queue_name", "receipt_handle", "visibility_timeout"]


def test_a_topic_publishes_with_the_keywords_the_fifo_deduplication_patch_reads():
    """sns-fifo-content-deduplication fills Topic.publish's deduplication_id keyword, which SNSBackend.publish
    passes by name, from the topic's fifo_topic and content_based_deduplication (booleans: the response layer
    converts CreateTopic's and SetTopicAttributes' strings)."""
    from moto.sns.models import SNSBackend, Topic
    from moto.sns.responses import SNSResponse

    assert "deduplication_id=deduplication_id," in inspect.getsource(SNSBackend.publish)
    assert "message_id = topic.publish(\n                message," in inspect.getsource(SNSBackend.publish)
    assert list(inspect.signature(Topic.publish).parameters) == [
        "self", "message", "subject", "message_attributes", "group_id", "deduplication_id", "message_structure"]
    assert '"ContentBasedDeduplication",' in inspect.getsource(SNSResponse._get_attributes)
    assert "attribute_value = ensure_boolean(attribute_value)" in inspect.getsource(SNSResponse.set_topic_attributes)


def test_parallel_and_map_name_a_failed_branch_s_error_where_the_emulator_keeps_states_errors():
    """sfn-parallel-branch-keeps-states-errors and sfn-map-iteration-keeps-states-errors replace the module-level
    CustomErrorName that the Parallel state's branches and a Map's iterations make their failure's error name
    with (by keyword), and answer StatesErrorName.from_name for a States.* name."""
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import iteration_worker
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl

    assert "error_name=CustomErrorName(error_name=exit_error_name)" in inspect.getsource(branches_decl)
    assert "error_name = CustomErrorName(error_name=error_name)" in inspect.getsource(iteration_worker)
    assert "CustomErrorName" in vars(branches_decl) and "CustomErrorName" in vars(iteration_worker)
    assert StatesErrorName.from_name("States.Timeout").error_name == "States.Timeout"


def test_a_lambda_task_s_failed_invoke_is_named_where_the_emulator_renames_it():
    """sfn-lambda-task-errors-named renames the FailureEvent StateTaskLambda._from_error makes of a ClientError
    (moto: "Exception") with the lambda:invoke integration's own naming, and rebuilds it with FailureEvent's
    arguments."""
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
        StateTaskServiceLambda,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda

    source = inspect.getsource(StateTaskLambda._from_error)
    assert 'error = "Exception"' in source and "if isinstance(ex, ClientError):" in source
    assert "lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(" in source
    assert isinstance(vars(StateTaskServiceLambda)["_error_cause_from_client_error"], staticmethod)
    assert 'error = f"Lambda.{error_code}"' in inspect.getsource(StateTaskServiceLambda._error_cause_from_client_error)
    assert list(inspect.signature(FailureEvent.__init__).parameters) == [
        "self", "env", "error_name", "event_type", "event_details"]


def test_an_answer_s_request_id_is_drawn_where_the_emulator_keeps_one_the_answer_names():
    """response-names-its-request: moto's _enrich_response, a staticmethod of (headers, body) called on every answer
    (errors too), draws the id into headers["x-amzn-requestid"] and puts it in an XML body's <RequestId>; Lambda's
    invoke answer carries moto's response headers through, and its LogResult is moto's base64 of the logs
    _invoke_lambda returns."""
    from moto.awslambda.models import LambdaFunction
    from moto.awslambda.responses import LambdaResponse
    from moto.core.responses import BaseResponse
    from moto.utilities import aws_headers

    assert isinstance(vars(BaseResponse)["_enrich_response"], staticmethod)
    assert list(inspect.signature(BaseResponse._enrich_response).parameters) == ["headers", "body"]
    assert "gen_amzn_requestid_long(headers)" in inspect.getsource(BaseResponse._enrich_response)
    assert inspect.getsource(BaseResponse.call_action).count("self._enrich_response(headers, body)") == 2
    headers: dict = {}
    drawn = aws_headers.gen_amzn_requestid_long(headers)
    assert headers == {"x-amzn-requestid": drawn}
    assert "return status_code, response_headers, payload" in inspect.getsource(LambdaResponse.invoke)
    assert 'base64.b64encode(logs.encode("utf-8"))' in inspect.getsource(LambdaFunction.invoke)


def test_describe_execution_reads_the_execution_attributes_the_whole_answer_reads():
    """sfn-describe-execution-whole answers from the execution its backend's describe_execution returns: a parser
    Execution, whose __init__ sets these attributes (and `status`, a property), as moto's own answer reads them."""
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.responses import StepFunctionResponse

    source = inspect.getsource(StepFunctionResponse.describe_execution)
    assert 'self._get_param("executionArn")' in source
    assert "self.stepfunction_backend.describe_execution(arn)" in source
    init = inspect.getsource(Execution.__init__)
    for attribute in ("self.state_machine_arn =", "self.start_date =", "self.execution_input =", "self.stop_date =",
                      "self.output =", "self.error =", "self.cause =", "self.trace_header =", "self.name ="):
        assert attribute in init, attribute
    assert isinstance(Execution.status, property)
    assert to_json_str({"a": [1]}, separators=(",", ":")) == '{"a":[1]}'


def test_sqs_reads_its_clock_and_scans_its_queues_where_the_deep_queue_patches_replace_them():
    """sqs-clock-*, sqs-queue-scan-* and sqs-retention-check-reads-the-retention: moto.sqs.models reads the clock
    through its module names unix_time / unix_time_millis (the same clock as time.time()); a message is visible
    when now > visible_at and delayed when now < delayed_until; the counts and the visible list are properties over
    Queue._messages; the retention check reads MessageRetentionPeriod from the queue's attributes."""
    import time

    from moto.core.utils import unix_time, unix_time_millis
    from moto.sqs import models

    assert models.unix_time is unix_time and models.unix_time_millis is unix_time_millis
    assert abs(unix_time() - time.time()) < 0.01
    assert "current_time > self.visible_at" in inspect.getsource(models.Message.visible.fget)
    assert "current_time < self.delayed_until" in inspect.getsource(models.Message.delayed.fget)
    for name, source in (("messages", "if message.visible and not message.delayed"),
                         ("approximate_number_of_messages", "len(self.messages)"),
                         ("approximate_number_of_messages_delayed", "if m.delayed"),
                         ("approximate_number_of_messages_not_visible", "if not m.visible")):
        assert isinstance(vars(models.Queue)[name], property) and source in inspect.getsource(
            vars(models.Queue)[name].fget), name
    retention = inspect.getsource(models.SQSBackend.is_message_valid_based_on_retention_period)
    assert '["MessageRetentionPeriod"]' in retention and "message.sent_timestamp / 1000" in retention
    assert list(inspect.signature(models.SQSBackend.is_message_valid_based_on_retention_period).parameters) == [
        "self", "queue_name", "message"]
    # each attribute is set as its snake-case name (MessageRetentionPeriod -> message_retention_period, an int)
    set_attributes = inspect.getsource(models.Queue._set_attributes)
    assert '"MessageRetentionPeriod",' in set_attributes
    assert "setattr(self, camelcase_to_underscores(key), value)" in set_attributes


def test_eventbridge_rules_deliver_where_the_events_patches_take_over():
    """events-*-under-the-lock wrap these EventsBackend methods; events-rule-targets replaces Rule.send_to_targets
    (called per rule by put_events with moto's event: epoch `time`, `ingestion-time`; by archive replays with
    transform_input=False), reads a rule's state, pattern and targets, hands log, archive and bus targets back to
    moto, and delivers to Lambda, SQS, SNS and Step Functions through these backend calls."""
    from moto.events.models import EventPattern, EventsBackend, Rule
    from moto.events.utils import EventTemplateParser
    from moto.sns.models import SNSBackend
    from moto.sqs.models import Queue, SQSBackend
    from moto.stepfunctions import responses as sfn_responses

    assert list(inspect.signature(Rule.send_to_targets).parameters) == ["self", "original_event", "transform_input"]
    init = inspect.getsource(Rule.__init__)
    for attribute in ("self.name =", "self.account_id =", "self.region_name =", "self.state =",
                      "self.event_pattern = EventPattern.load(event_pattern)", "self.targets ="):
        assert attribute in init, attribute
    assert "if not self._pattern:\n            return True" in inspect.getsource(EventPattern.matches_event)
    put_events = inspect.getsource(EventsBackend.put_events)
    assert "for rule in event_bus.rules.values():" in put_events and "rule.send_to_targets(event_msg)" in put_events
    for field_set in ('event_msg["account"] = self.account_id', 'event_msg["time"] = event.get("Time", unix_time())',
                      'event_msg["ingestion-time"] = unix_time()'):
        assert field_set in put_events, field_set
    for operation in ("put_events", "put_rule", "delete_rule", "put_targets", "remove_targets"):
        assert callable(getattr(EventsBackend, operation)), operation
    send = inspect.getsource(Rule.send_to_targets)
    assert 'arn.service == "logs"' in send and 'arn.service == "events"' in send
    assert list(inspect.signature(EventTemplateParser.parse).parameters) == [
        "input_template", "input_paths_map", "event"]
    assert list(inspect.signature(SNSBackend.publish).parameters)[:3] == ["self", "message", "arn"]
    assert {"queue_name", "message_body", "group_id"} <= set(inspect.signature(SQSBackend.send_message).parameters)
    assert '"ContentBasedDeduplication", "FifoQueue"' in inspect.getsource(Queue._set_attributes)
    assert list(inspect.signature(sfn_responses.get_backend).parameters) == ["account", "region"]


def test_cloud_map_instances_are_a_list_only_registration_and_deregistration_change():
    """cloudmap-register-updates and cloudmap-deregister-copies replace a service's `instances` list (copy on
    write) and bump `instances_revision`: moto changes that list in place only in those two methods, so readers
    holding the old list see a consistent one."""
    import moto.servicediscovery.models as models

    source = inspect.getsource(models)
    assert source.count("service.instances.append(") == 1 and source.count("service.instances.remove(") == 1
    init = inspect.getsource(models.Service.__init__)
    assert "self.instances: list[ServiceInstance] = []" in init and "self.instances_revision: dict[str, int]" in init
    backend = models.ServiceDiscoveryBackend
    assert list(inspect.signature(backend.register_instance).parameters) == [
        "self", "service_id", "instance_id", "creator_request_id", "attributes"]
    assert list(inspect.signature(backend.deregister_instance).parameters) == ["self", "service_id", "instance_id"]
    assert list(inspect.signature(backend._create_operation).parameters) == ["self", "op_type", "targets"]
    assert list(inspect.signature(models.ServiceInstance.__init__).parameters) == [
        "self", "service_id", "instance_id", "creator_request_id", "attributes"]
    assert "service.instances_revision[instance_id]" in inspect.getsource(backend.register_instance)


def test_stream_records_are_added_where_the_one_record_per_change_patches_look():
    """dynamodb-stream-update-inserts-once and dynamodb-stream-retention: UpdateItem of a missing item puts the
    bare key first (table.put_item, which records it) and records the update after; StreamShard.add(old, new) is
    where every write records; items compare their attributes as a dict of DynamoTypes (numbers by value)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import StreamShard

    update = inspect.getsource(DynamoDBBackend.update_item)
    assert update.index("table.put_item(data)") < update.index("table.stream_shard.add(orig_item, item)")
    assert list(inspect.signature(StreamShard.add).parameters) == ["self", "old", "new"]
    assert {"n": DynamoType({"N": "1"})} == {"n": DynamoType({"N": "1.0"})}
    assert {"n": DynamoType({"N": "1"})} != {"n": DynamoType({"S": "1"})}


def test_s3_answers_keys_and_buckets_where_the_presigned_expiry_patch_refuses():
    """s3-presigned-urls-expire-*: S3Response._key_response and _bucket_response take (request, full_url), and
    their callers serialize an S3ClientError they raise as S3's error document (its code, message and status)."""
    from moto.s3.exceptions import S3ClientError
    from moto.s3.responses import S3Response

    for method in (S3Response._key_response, S3Response._bucket_response):
        assert list(inspect.signature(method).parameters) == ["self", "request", "full_url"]
    for caller in (S3Response.key_response, S3Response.bucket_response):
        assert "except S3ClientError as s3error:" in inspect.getsource(caller)
        assert "self.serialized(ActionResult(s3error))" in inspect.getsource(caller)
    error = S3ClientError("AccessDenied", "Request has expired")
    assert (error.code, error.message) == ("AccessDenied", "Request has expired")


def test_sns_filters_and_raw_deliveries_are_where_the_sns_patches_look():
    """sns-filter-ignore-case rewrites the policy FilterPolicyMatcher keeps (moto lower-cases only the message's
    value for equals-ignore-case); sns-filter-types-never-fail wraps matches(message_attributes, message), where a
    numeric condition compares a body value as it is; sns-lambda-async's publish decodes a Binary attribute for a
    raw SQS delivery, which moto passes on as the SQS BinaryValue (and SQS hashes as bytes)."""
    from moto.sns.models import Subscription
    from moto.sns.utils import FilterPolicyMatcher
    from moto.sqs.models import Message

    init = inspect.getsource(FilterPolicyMatcher.__init__)
    assert list(inspect.signature(FilterPolicyMatcher.__init__).parameters) == [
        "self", "filter_policy", "filter_policy_scope"]
    assert "self.filter_policy = filter_policy" in init
    assert list(inspect.signature(FilterPolicyMatcher.matches).parameters) == ["self", "message_attributes", "message"]
    field_match = inspect.getsource(FilterPolicyMatcher._field_match)
    assert "_str_exact_match(dict_body[field].lower(), value)" in field_match
    assert "_numeric_match(numeric_ranges, dict_body[field])" in field_match
    # sns-filter-body-or replaces _body_based_match(message_dict), which checks self.filter_policy through
    # _compute_body_checks(policy, body) and _perform_body_checks(checks), raising CheckException for no match
    assert list(inspect.signature(FilterPolicyMatcher._body_based_match).parameters) == ["self", "message_dict"]
    body_match = inspect.getsource(FilterPolicyMatcher._body_based_match)
    assert "self._compute_body_checks(self.filter_policy, message_dict)" in body_match
    assert "self._perform_body_checks(checks)" in body_match and "FilterPolicyMatcher.CheckException" in body_match
    publish = inspect.getsource(Subscription.publish)
    assert 'attr_type = "BinaryValue"' in publish and 'type_value = value["Value"]' in publish
    # sns-lambda-async's dead-letter path (_redrive) builds what the subscription would have had with moto's own
    # get_post_data(message, message_id, subject, message_attributes=) and _parse_message_structure, and sends it
    # with SQSBackend.send_message(queue_name, body, group_id=, validate_group_id=)
    assert "self.get_post_data(" in publish and "self._parse_message_structure(message, self.protocol)" in publish
    assert {"message", "message_id", "subject", "message_attributes"} <= set(
        inspect.signature(Subscription.get_post_data).parameters)
    from moto.sqs.models import SQSBackend

    # (and events-rule-targets' dead-letter path, _event_dead_letter, with message_attributes=)
    assert {"queue_name", "message_body", "group_id", "validate_group_id", "message_attributes"} <= set(
        inspect.signature(SQSBackend.send_message).parameters)
    assert "update_binary_length_and_value(md5, decoded_binary_value)" in inspect.getsource(
        Message.attribute_md5.fget if isinstance(Message.attribute_md5, property) else Message.attribute_md5)


def test_s3_sends_its_notifications_where_the_s3_notification_patches_take_over():
    """s3-notifications-*: moto's S3 calls notifications.send_event(account_id, event_name, bucket, key) and
    send_test_event(account_id=, bucket=) through the module (so replacing the module's functions takes every call);
    a bucket's notification_configuration has cloud_function, queue and topic lists of Notification (id, arn,
    filters, _event_matches) and event_bridge; _detail_type names an EventBridge detail type or raises ValueError.
    s3-notification-destinations-exist reads PutBucketNotificationConfiguration's parsed dict (CloudFunction, Queue,
    Topic per configuration); s3-versioned-delete-notifies wraps delete_object(bucket_name, key_name, version_id,
    bypass), whose answer names a delete marker's "version-id", and reads bucket.keys.getlist."""
    from moto.s3 import models, notifications
    from moto.s3.models import FakeBucket, FakeDeleteMarker, FakeKey, Notification, S3Backend

    assert list(inspect.signature(notifications.send_event).parameters) == [
        "account_id", "event_name", "bucket", "key"]
    assert list(inspect.signature(notifications.send_test_event).parameters) == ["account_id", "bucket"]
    source = inspect.getsource(models)
    assert source.count("notifications.send_event(") >= 8
    assert "from moto.s3.notifications import" not in source and "notifications.send_test_event(" in source
    assert notifications._detail_type("s3:ObjectCreated:Put") == "Object Created"
    configure = inspect.getsource(FakeBucket.set_notification_configuration)
    for name in ('"TopicConfiguration"', '"QueueConfiguration"', '"CloudFunctionConfiguration"',
                 '"EventBridgeConfiguration"', "cloud_function=", "event_bridge="):
        assert name in configure, name
    notification = Notification("arn:aws:sqs:us-east-1:123456789012:q", ["s3:ObjectCreated:*"],
                                {"S3Key": {"FilterRule": [{"Name": "prefix", "Value": "a/"}]}}, "id-1")
    assert (notification.id, notification.arn) == ("id-1", "arn:aws:sqs:us-east-1:123456789012:q")
    assert notification.filters["S3Key"]["FilterRule"][0]["Value"] == "a/"
    assert notification._event_matches("s3:ObjectCreated:Put") and not notification._event_matches(
        "s3:ObjectRemoved:Delete")
    assert list(inspect.signature(S3Backend.delete_object).parameters) == [
        "self", "bucket_name", "key_name", "version_id", "bypass"]
    delete = inspect.getsource(S3Backend.delete_object)
    assert 'response_meta["version-id"] = delete_marker.version_id' in delete and "bucket.is_versioned" in delete
    assert list(inspect.signature(S3Backend.put_bucket_notification_configuration).parameters) == [
        "self", "bucket_name", "notification_config"]
    for attr in ("etag", "size", "version_id"):
        assert isinstance(getattr(FakeKey, attr, None), property) or attr in inspect.getsource(FakeKey.__init__)
    assert isinstance(FakeDeleteMarker.version_id, property) and "self.name = key.name" in inspect.getsource(
        FakeDeleteMarker.__init__)
    assert isinstance(models.OWNER, str)


def test_lambda_s_invoke_reads_its_qualifier_where_the_qualifier_patch_puts_it():
    """lambda-invoke-reads-the-qualifier: LambdaResponse.invoke reads self._get_param("qualifier"), which looks in
    the querystring (a dict of lists) before the JSON body; the patch writes the request's Qualifier there."""
    from moto.awslambda.responses import LambdaResponse
    from moto.core.responses import BaseResponse

    assert 'qualifier = self._get_param("qualifier")' in inspect.getsource(LambdaResponse.invoke)
    reader = inspect.getsource(BaseResponse._get_param)
    assert "val = self.querystring.get(param_name)" in reader and "return val[0]" in reader
    assert reader.index("self.querystring.get") < reader.index("json.loads(self.body)")
    assert not getattr(LambdaResponse, "automated_parameter_parsing", False)


def test_moto_s_scheduler_keeps_schedules_where_the_scheduler_patches_read_them():
    """scheduler-*: EventBridgeSchedulerBackend.create_schedule/update_schedule take keywords (its responses call
    them so) and answer the Schedule, whose name, group_name, arn, schedule_expression(_timezone), state, target,
    start_date, end_date and action_after_completion scheduler_spec reads; delete_schedule(group_name, name);
    schedule_groups maps a group's name to a ScheduleGroup whose `schedules` maps names to Schedules."""
    from moto.scheduler import responses
    from moto.scheduler.models import EventBridgeSchedulerBackend, Schedule, ScheduleGroup, scheduler_backends

    create = inspect.signature(EventBridgeSchedulerBackend.create_schedule).parameters
    for name in ("name", "group_name", "schedule_expression", "schedule_expression_timezone", "state", "target",
                 "start_date", "end_date", "action_after_completion"):
        assert name in create, name
    assert "schedule_expression_timezone" in inspect.signature(EventBridgeSchedulerBackend.update_schedule).parameters
    assert list(inspect.signature(EventBridgeSchedulerBackend.delete_schedule).parameters) == [
        "self", "group_name", "name"]
    source = inspect.getsource(responses)
    assert "self.scheduler_backend.create_schedule(\n" in source
    assert "schedule_expression=schedule_expression," in source
    schedule = Schedule("us-east-1", "123456789012", "default", "s", None, "rate(1 minute)", None,
                        {"Mode": "OFF"}, {"Arn": "arn:aws:sqs:us-east-1:123456789012:q"}, None, None, None, None,
                        "DELETE")
    assert schedule.arn == "arn:aws:scheduler:us-east-1:123456789012:schedule/default/s"
    assert (schedule.group_name, schedule.state, schedule.schedule_expression_timezone) == ("default", "ENABLED", "UTC")
    assert (schedule.start_date, schedule.end_date, schedule.action_after_completion) == (None, None, "DELETE")
    backend = scheduler_backends["123456789012"]["us-east-1"]
    assert isinstance(backend.schedule_groups["default"], ScheduleGroup)
    assert isinstance(backend.schedule_groups["default"].schedules, dict)


def test_s3_asks_a_bucket_for_its_policy_s_verdict_where_the_conditions_patch_answers():
    """s3-bucket-policy-conditions-evaluated: S3's object answers ask bucket.get_permission(action, resource) and
    refuse on PermissionResult.DENIED; the bucket keeps its policy as bytes; IAMPolicy takes a policy's JSON text and
    its is_action_permitted(action, resource) answers PERMITTED, DENIED or NEUTRAL."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket
    from moto.s3.responses import S3Response

    assert list(inspect.signature(FakeBucket.get_permission).parameters) == ["self", "action", "resource"]
    assert "self.policy.decode()" in inspect.getsource(FakeBucket.get_permission)
    assert "bucket.get_permission(action, resource)" in inspect.getsource(S3Response._key_response)
    deny = ('{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", '
            '"Resource": "arn:aws:s3:::b/*"}]}')
    assert IAMPolicy(deny).is_action_permitted("s3:PutObject", "arn:aws:s3:::b/k") == PermissionResult.DENIED
    assert IAMPolicy(deny).is_action_permitted("s3:GetObject", "arn:aws:s3:::b/k") == PermissionResult.NEUTRAL


def test_api_gateway_keeps_keys_and_usage_plans_where_the_key_check_reads_them():
    """moto_patches.api_key_valid reads the API Gateway backend's keys (id, value, enabled), usage_plans (id ->
    plan with api_stages of {"apiId", "stage"}) and usage_plan_keys (plan id -> {key id: ...}) as these calls leave
    them."""
    from moto.apigateway.models import apigateway_backends

    backend = apigateway_backends["123456789012"]["us-east-1"]
    key = backend.create_api_key({"name": "guard", "enabled": True, "value": "guard-value-0123456789"})
    plan = backend.create_usage_plan({"name": "guard", "apiStages": [{"apiId": "a1", "stage": "prod"}]})
    backend.create_usage_plan_key(plan.id, {"keyId": key.id, "keyType": "API_KEY"})
    try:
        assert backend.keys[key.id].value == "guard-value-0123456789" and backend.keys[key.id].enabled is True
        assert backend.usage_plans[plan.id].api_stages == [{"apiId": "a1", "stage": "prod"}]
        assert key.id in backend.usage_plan_keys[plan.id]
    finally:
        backend.usage_plan_keys.pop(plan.id, None)
        backend.usage_plans.pop(plan.id, None)
        backend.keys.pop(key.id, None)


def test_cognito_keeps_pools_and_signs_tokens_where_the_key_source_reads_them():
    """moto_patches.cognito_key_set answers a pool of cognitoidp_backends[account][region].user_pools with the
    key set moto serves at /{pool}/.well-known/jwks.json; the pool's tokens name that issuer and a key id of it."""
    from joserfc import jwt
    from joserfc.jwk import KeySet
    from moto.cognitoidp.models import cognitoidp_backends

    from infra import moto_patches

    from moto.cognitoidp.models import CognitoIdpUserPool, CognitoIdpUserPoolClient

    # the validity patch calls create_jwt with these parameters and reads a client's extended_config
    assert list(inspect.signature(CognitoIdpUserPool.create_jwt).parameters) == [
        "self", "client_id", "username", "token_use", "expires_in", "extra_data"]
    assert "self.extended_config" in inspect.getsource(CognitoIdpUserPoolClient.__init__)
    assert "create_jwt(" in inspect.getsource(CognitoIdpUserPool.create_access_token)
    backend = cognitoidp_backends["123456789012"]["us-east-1"]
    pool = backend.create_user_pool("guard", {})
    try:
        assert backend.user_pools[pool.id] is pool
        issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool.id}"
        keys = moto_patches.cognito_key_set(issuer)
        user = backend.admin_create_user(pool.id, "guard", "SUPPRESS", "Guard-Pass-1", [])
        token, _ = pool.create_jwt("client", user.username, "access")
        assert jwt.decode(token, KeySet.import_key_set(keys), algorithms=["RS256"]).claims["iss"] == issuer
        assert moto_patches.cognito_key_set(issuer.replace(pool.id, "us-east-1_nothere")) is None
    finally:
        backend.user_pools.pop(pool.id, None)


def test_cognito_runs_its_calls_where_the_trigger_patches_wrap_them():
    """The trigger patches (moto_patches, cognito-*-runs-*) wrap these backend methods with these parameters; a
    pool keeps CreateUserPool's LambdaConfig in extended_config; a challenge's session is (username, pool);
    AdminRespondToAuthChallenge is RespondToAuthChallenge (so it is not wrapped twice)."""
    from moto.cognitoidp.models import CognitoIdpBackend, CognitoIdpGroup, CognitoIdpUser, UserStatus, \
        cognitoidp_backends

    def params(name):
        return list(inspect.signature(getattr(CognitoIdpBackend, name)).parameters)

    assert params("sign_up") == ["self", "client_id", "username", "password", "attributes"]
    assert params("admin_create_user") == ["self", "user_pool_id", "username", "message_action",
                                           "temporary_password", "attributes"]
    assert params("confirm_sign_up") == ["self", "client_id", "username"]
    assert params("admin_confirm_sign_up") == ["self", "user_pool_id", "username"]
    assert params("initiate_auth") == ["self", "client_id", "auth_flow", "auth_parameters"]
    assert params("admin_initiate_auth") == ["self", "user_pool_id", "client_id", "auth_flow", "auth_parameters"]
    assert params("respond_to_auth_challenge")[:3] == ["self", "session", "client_id"]
    assert "self.respond_to_auth_challenge(" in inspect.getsource(CognitoIdpBackend.admin_respond_to_auth_challenge)
    assert "self.sessions[session] = (username, user_pool)" in inspect.getsource(CognitoIdpBackend.initiate_auth)
    assert "def update_attributes" in inspect.getsource(CognitoIdpUser)
    assert "self.role_arn" in inspect.getsource(CognitoIdpGroup.__init__) and UserStatus.CONFIRMED.value == "CONFIRMED"
    backend = cognitoidp_backends["123456789012"]["us-east-1"]
    pool = backend.create_user_pool("guard", {"LambdaConfig": {"PreSignUp": "arn:aws:lambda:x"}})
    try:
        assert pool.extended_config["LambdaConfig"] == {"PreSignUp": "arn:aws:lambda:x"}
    finally:
        backend.user_pools.pop(pool.id, None)


def test_iam_finds_a_key_s_user_where_the_iam_caller_lookup_asks():
    """moto_patches.iam_identity asks iam_backends[account]["aws"].get_user_from_access_key_id and reads the user's
    arn and id (an AWS_IAM method's requestContext.identity)."""
    from moto.iam.models import iam_backends

    from infra import moto_patches

    backend = iam_backends["123456789012"]["aws"]
    user, key = backend.create_user(region_name="us-east-1", user_name="guard-caller"), None
    try:
        key = backend.create_access_key("guard-caller")
        assert moto_patches.iam_identity(key.access_key_id) == {"userArn": user.arn, "userId": user.id}
        assert moto_patches.iam_identity("AKIDNOBODY") is None
    finally:
        backend.reset()
        # moto's /moto-api/data.json lists every model instance it tracks and asks a User for its groups, which
        # fails for a user its backend no longer has: forget this test's, as a new local cloud never made them
        for made in (user, key):
            tracked = type(made).__dict__.get("instances_tracked")
            if made is not None and isinstance(tracked, list) and made in tracked:  # the weak list lets it go
                tracked.remove(made)


def test_sqs_sets_queue_attributes_where_the_range_patch_checks_them():
    """sqs-queue-attributes-in-range wraps Queue._set_attributes(attributes, now), which CreateQueue (through
    Queue.__init__) and SetQueueAttributes call with the request's attributes."""
    from moto.sqs.models import Queue, SQSBackend

    assert list(inspect.signature(Queue._set_attributes).parameters) == ["self", "attributes", "now"]
    assert "self._set_attributes(defaults, now)" in inspect.getsource(Queue.__init__)
    assert "_set_attributes(attributes)" in inspect.getsource(SQSBackend.set_queue_attributes)
    # sqs-message-delay-in-range wraps _validate_message(queue, message_body, delay_seconds, ...), which SendMessage
    # and each entry of SendMessageBatch call with the delay as an int
    assert list(inspect.signature(SQSBackend._validate_message).parameters)[:4] == [
        "self", "queue", "message_body", "delay_seconds"]
    assert "delay_seconds=int(delay_seconds or 0)" in inspect.getsource(SQSBackend.send_message)
    assert "self._validate_message(" in inspect.getsource(SQSBackend.send_message_batch)


def test_a_requested_certificate_is_issued_where_the_deploy_marks_it():
    """moto_patches.issue_certificate sets the status of acm_backends[account][region].get_certificate(arn), which
    describe reads (moto itself issues an Amazon-issued certificate only once 60 s have passed since the request)."""
    from moto.acm.models import acm_backends

    from infra import moto_patches

    backend = acm_backends["123456789012"]["us-east-1"]
    arn = backend.request_certificate("guard.example.com", idempotency_token=None, subject_alt_names=None,
                                      tags=None, cert_authority_arn=None)
    try:
        assert backend.describe_certificate(arn).status == "PENDING_VALIDATION"
        moto_patches.issue_certificate(arn)
        assert backend.describe_certificate(arn).status == "ISSUED"
        assert backend.describe_certificate(arn).describe()["Certificate"]["Status"] == "ISSUED"
    finally:
        backend._certificates.pop(arn, None)


def test_cloudwatch_logs_sends_and_stores_where_the_filter_patches_act():
    """logs-subscriptions-filtered replaces LogStream._send_log_events(service, destination_arn, filter_name,
    log_events), which put_log_events calls once per subscription of the group, and reads the filter's
    filter_pattern from log_group.subscription_filters; logs-metric-filters-emit wraps
    LogStream.put_log_events(log_events) and reads LogsBackend.filters.metric_filters (dicts of filterName,
    filterPattern, logGroupName and metricTransformations with metricName, metricNamespace, metricValue);
    the pattern checks wrap LogGroup.put_subscription_filter and LogsBackend.put_metric_filter, whose first two
    parameters are the filter's name and pattern."""
    from moto.logs.metric_filters import MetricFilters
    from moto.logs.models import LogGroup, LogsBackend, LogStream, SubscriptionFilter

    assert list(inspect.signature(LogStream._send_log_events).parameters) == [
        "self", "service", "destination_arn", "filter_name", "log_events"]
    assert list(inspect.signature(LogStream.put_log_events).parameters) == ["self", "log_events"]
    source = inspect.getsource(LogStream.put_log_events)
    assert "for subscription_filter in self.log_group.subscription_filters.values():" in source
    assert "self._send_log_events(" in source
    assert "self.filter_pattern = filter_pattern" in inspect.getsource(SubscriptionFilter.__init__)
    assert list(inspect.signature(LogGroup.put_subscription_filter).parameters)[:3] == [
        "self", "filter_name", "filter_pattern"]
    assert list(inspect.signature(LogsBackend.put_metric_filter).parameters)[:4] == [
        "self", "filter_name", "filter_pattern", "log_group_name"]
    filters = MetricFilters()
    filters.add_filter("f", "ERROR", "g", [{"metricName": "m", "metricNamespace": "n", "metricValue": "1"}])
    assert filters.metric_filters == [{"filterName": "f", "filterPattern": "ERROR", "logGroupName": "g",
                                       "metricTransformations": [{"metricName": "m", "metricNamespace": "n",
                                                                  "metricValue": "1"}]}]
    assert "self.filters = MetricFilters()" in inspect.getsource(LogsBackend.__init__)


def test_composite_alarms_go_through_moto_s_put_metric_alarm_which_reads_their_rule():
    from moto.cloudwatch.models import Alarm, CloudWatchBackend
    from moto.cloudwatch.responses import CloudWatchResponse

    from infra import moto_patches

    patch = moto_patches.patch("cloudwatch-composite-alarms")
    was_applied = patch.applied
    patch.revert()
    try:
        assert not hasattr(CloudWatchResponse, "put_composite_alarm")  # when moto routes it, drop the patch
    finally:
        if was_applied:
            patch.apply()
    assert 'self._get_param("AlarmRule")' in inspect.getsource(CloudWatchResponse.put_metric_alarm)
    assert "rule" in inspect.signature(CloudWatchBackend.put_metric_alarm).parameters
    assert "rule" in inspect.signature(Alarm.__init__).parameters
    # DescribeAlarms answers an alarm with a rule as a CompositeAlarm (and the evaluation reads .rule)
    assert "a.rule is not None" in inspect.getsource(CloudWatchResponse.describe_alarms)


def test_sns_notifications_are_built_as_the_one_certificate_patch_rebuilds_them():
    """sns-one-signing-certificate replaces Subscription.get_post_data with moto's own envelope (its fields, the
    string it signs with SignatureVersion 2 and the subscription's private_key(), the PEM in the default account's
    _message_public_keys that GetCertificate-style requests read) and keeps one certificate per subscription."""
    from moto.sns import responses
    from moto.sns.models import Subscription

    source = inspect.getsource(Subscription.get_post_data)
    for piece in ('"Type": "Notification"', '"SignatureVersion": signature_version', 'signature_version = "2"',
                  "default_sns_backend._message_public_keys[key_name] = cert.public_bytes(",
                  'f"https://sns.{region}.amazonaws.com/{key_name}"', "key = self.private_key()",
                  "padding.PKCS1v15(), hashes.SHA256()", 'post_data["Subject"] = subject',
                  'post_data["MessageAttributes"] = message_attributes'):
        assert piece in source, piece
    assert "Message\n{message}\nMessageId\n{message_id}\nTimestamp\n{timestamp}\nTopicArn\n{self.topic.arn}" \
        "\nType\nNotification\n" in source
    assert list(inspect.signature(Subscription.get_post_data).parameters) == [
        "self", "message", "message_id", "subject", "message_attributes"]
    assert "_message_public_keys[key_name]" in inspect.getsource(responses)


def test_a_mapping_on_a_stream_consumer_is_made_on_its_stream_where_the_consumer_patch_looks():
    """lambda-mappings-created-poll: a mapping on a Kinesis consumer's ARN is made on its stream's ARN (moto looks
    the source up among streams only), then names the consumer again in `event_source_arn`."""
    from moto.awslambda.models import EventSourceMapping, LambdaBackend
    from moto.kinesis.models import KinesisBackend

    create = inspect.getsource(LambdaBackend.create_event_source_mapping)
    assert "stream.arn == spec[\"EventSourceArn\"]" in create and "kinesis_backend.streams.values()" in create
    assert "self.event_source_arn = spec[\"EventSourceArn\"]" in inspect.getsource(EventSourceMapping.__init__)
    assert "self.event_source_arn" in inspect.getsource(EventSourceMapping.get_configuration)
    assert list(inspect.signature(KinesisBackend.describe_stream_consumer).parameters) == \
        ["self", "stream_arn", "consumer_name", "consumer_arn"]


def test_werkzeug_compiles_a_rule_s_url_builders_where_the_lazy_builder_patch_makes_them():
    """werkzeug-url-builders-when-used: Rule.compile binds what _compile_builder(False) and (True) return to the
    rule; building a URL calls them (Rule.build), matching does not."""
    from werkzeug.routing.rules import Rule

    source = inspect.getsource(Rule.compile)
    assert "self._build = self._compile_builder(False).__get__(self, None)" in source
    assert "self._build_unknown = self._compile_builder(True).__get__(self, None)" in source
    assert list(inspect.signature(Rule._compile_builder).parameters) == ["self", "append_unknown"]
    assert "self._build_unknown(**values)" in inspect.getsource(Rule.build)


def test_urls_built_with_builders_made_when_used_are_the_ones_werkzeug_builds():
    from werkzeug.routing import Map, Rule

    from infra import moto_patches

    def urls() -> list:
        routes = Map([Rule("/2015-03-31/functions/<function_name>/invocations", endpoint="invoke"),
                      Rule("/<bucket>/<path:key>", endpoint="object", methods=["GET", "PUT"]),
                      Rule("/items/<int:n>", endpoint="item")])
        adapter = routes.bind("localhost")
        built = [adapter.build("invoke", {"function_name": "fn"}),
                 adapter.build("object", {"bucket": "b", "key": "a/b c"}),
                 adapter.build("item", {"n": 7, "page": 2}), adapter.build("item", {"n": 8}, append_unknown=False)]
        matched = adapter.match("/items/9")
        return [built, matched]

    patch = moto_patches.patch("werkzeug-url-builders-when-used")
    was_applied = patch.applied
    patch.revert()
    werkzeug_compile = vars(Rule)["_compile_builder"]  # werkzeug's own
    try:
        expected = urls()
        patch.apply()
        assert urls() == expected == [["/2015-03-31/functions/fn/invocations", "/b/a/b%20c", "/items/7?page=2",
                                       "/items/8"], ("item", {"n": 9})]
        # and a map that only matches compiles no builder
        compiled = []
        patch.revert()
        Rule._compile_builder = lambda rule, append_unknown=True: compiled.append(rule) or werkzeug_compile(
            rule, append_unknown)
        patch.apply()
        routes = Map([Rule("/items/<int:n>", endpoint="item"), Rule("/other", endpoint="other")]).bind("localhost")
        assert routes.match("/items/3") == ("item", {"n": 3}) and compiled == []
        assert routes.build("item", {"n": 4}) == "/items/4" and len(compiled) == 1
    finally:
        patch.revert()
        Rule._compile_builder = werkzeug_compile
        if was_applied:
            patch.apply()


def test_botocore_loads_a_model_file_where_the_model_file_cache_keeps_it():
    """botocore-model-files-cached: JSONFileLoader.load_file tries each extension through _load_file(full path,
    open method), which answers the parsed file or None when there is none."""
    from botocore.loaders import JSONFileLoader

    assert list(inspect.signature(JSONFileLoader._load_file).parameters) == ["self", "full_path", "open_method"]
    assert "self._load_file(file_path + ext, open_method)" in inspect.getsource(JSONFileLoader.load_file)


def test_a_model_file_from_the_cache_is_the_one_botocore_parses(tmp_path, monkeypatch):
    from collections import OrderedDict
    from pathlib import Path

    import botocore
    from botocore.loaders import JSONFileLoader

    from infra import moto_patches

    monkeypatch.setenv("NOTIFYX_CACHE_DIR", str(tmp_path))
    patch = moto_patches.patch("botocore-model-files-cached")
    was_applied = patch.applied
    patch.revert()
    parse = vars(JSONFileLoader)["_load_file"]  # botocore's own

    def patched_over(inner) -> None:
        patch.revert()
        JSONFileLoader._load_file = inner
        patch.apply()

    def parse_refused(_loader, full_path, _open_method):
        if not Path(full_path).is_file():  # another extension's file: botocore's None
            return None
        raise AssertionError("parsed again: the cache missed")

    model = str(Path(botocore.__file__).parent / "data" / "sqs" / "2012-11-05" / "service-2")
    try:
        parsed = JSONFileLoader().load_file(model)
        patched_over(parse)
        first = JSONFileLoader().load_file(model)  # parsed, and kept
        [kept] = (tmp_path / "botocore").glob("*.pickle")
        patched_over(parse_refused)
        again = JSONFileLoader().load_file(model)
        assert parsed == first == again and type(again) is OrderedDict and again is not first
        assert JSONFileLoader().load_file(model + "-missing") is None
        kept.write_bytes(b"damaged")
        patched_over(parse)
        assert JSONFileLoader().load_file(model) == parsed
    finally:
        patch.revert()
        JSONFileLoader._load_file = parse
        if was_applied:
            patch.apply()
