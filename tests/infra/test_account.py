"""infra.account: the local cloud's one account is moto's, and every client and function signs for it."""
from moto.core import DEFAULT_ACCOUNT_ID

from infra import account


def test_the_account_is_motos_default_account():
    assert account.ACCOUNT_ID == DEFAULT_ACCOUNT_ID


def test_the_environment_and_client_keys_name_the_same_account_and_region():
    assert account.ENVIRONMENT["AWS_REGION"] == account.ENVIRONMENT["AWS_DEFAULT_REGION"] == account.REGION
    assert account.ENVIRONMENT["AWS_ACCESS_KEY_ID"] == account.KEYS["aws_access_key_id"]
    assert account.CREDENTIALS == {"region_name": account.REGION, **account.KEYS}
