"""A durable local cloud keeps its Cognito user pools' users across a restart and a crash (fixtures/apps/cognito_notes).

Before 7 December a pool was made again at every start with a new id (a new issuer: every token refused, the app's
client configuration stale) and without its users. Now a template's pool and app client keep their ids (of the
stack and logical id, as a stack update keeps them), and the durable state keeps each pool's users, their groups
and the tokens it issued: a user signed up before the restart signs in after it, a session's refresh token still
refreshes and its tokens still open the app's APIs.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from http_calls import call

from infra import persistence
from infra.cloud import LocalCloud

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "cognito_notes" / "template.yaml"
PASSWORD = "Notes-Secret-1"


def _start(state_dir: Path) -> LocalCloud:
    return LocalCloud(TEMPLATE, static_dir=None, state_dir=state_dir).start()


def _notes(cloud: LocalCloud, token: str) -> int:
    gateway = cloud.rest_gateway
    [http] = [api for api in gateway.http_apis if api.api.api_id == cloud.stack.outputs["HttpApiId"]]
    return call(f"http://127.0.0.1:{gateway.port}{http.base_path}/notes", headers={"Authorization": token})[0]


def test_users_groups_and_sessions_survive_a_crash_and_a_clean_stop(tmp_path):
    state, crashed = tmp_path / "state", tmp_path / "crashed"
    cloud = _start(state)
    try:
        pool, client = cloud.stack.outputs["UserPoolId"], cloud.stack.outputs["UserPoolClientId"]
        idp = cloud.client("cognito-idp")
        for email in ("ada@example.com", "bob@example.com", "eve@example.com"):
            idp.sign_up(ClientId=client, Username=email, Password=PASSWORD)
        idp.admin_confirm_sign_up(UserPoolId=pool, Username="ada@example.com")
        idp.admin_confirm_sign_up(UserPoolId=pool, Username="eve@example.com")
        idp.admin_add_user_to_group(UserPoolId=pool, Username="ada@example.com", GroupName="admins")
        session = idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={
            "USERNAME": "ada@example.com", "PASSWORD": PASSWORD})["AuthenticationResult"]
        idp.admin_delete_user(UserPoolId=pool, Username="eve@example.com")
        assert _notes(cloud, session["IdToken"]) == 200
        shutil.copytree(state, crashed)  # what a kill -9 leaves: the files as they are now
    finally:
        cloud.stop()
    (crashed / persistence.LOCK).unlink()

    for directory in (crashed, state):  # after the crash, then after the clean stop
        cloud = _start(directory)
        try:
            assert (cloud.stack.outputs["UserPoolId"], cloud.stack.outputs["UserPoolClientId"]) == (pool, client)
            idp = cloud.client("cognito-idp")
            users = {u["Username"]: u["UserStatus"] for u in idp.list_users(UserPoolId=pool)["Users"]}
            assert sorted(users.values()) == ["CONFIRMED", "UNCONFIRMED"] and len(users) == 2  # eve was deleted
            members = idp.list_users_in_group(UserPoolId=pool, GroupName="admins")["Users"]
            assert [m["Attributes"] for m in members] == [
                u["Attributes"] for u in idp.list_users(UserPoolId=pool)["Users"] if u["UserStatus"] == "CONFIRMED"]
            assert idp.get_group(UserPoolId=pool, GroupName="admins")["Group"]["Description"] == \
                "may read everyone's notes"  # the template's group, with its members
            # the session goes on: its tokens open the API, its refresh token refreshes, its access token names ada
            assert _notes(cloud, session["IdToken"]) == 200
            refreshed = idp.initiate_auth(ClientId=client, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={
                "REFRESH_TOKEN": session["RefreshToken"]})["AuthenticationResult"]
            assert _notes(cloud, refreshed["IdToken"]) == 200
            assert {a["Name"]: a["Value"] for a in idp.get_user(AccessToken=session["AccessToken"])[
                "UserAttributes"]}["email"] == "ada@example.com"
            signed_in = idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={
                "USERNAME": "ada@example.com", "PASSWORD": PASSWORD})["AuthenticationResult"]
            assert _notes(cloud, signed_in["AccessToken"]) == 200
            assert cloud.store.restored["users"] == 2
        finally:
            cloud.stop()
