"""KuCoin behind kukey's `Exchange` port (bot.services.ports): the client's calls, converted to the
domain's types, plus the KuCoin facts the services ask for (key format, parallel deletes, passphrases)."""

from __future__ import annotations

from bot.domain.exchange import CreatedKey, ExchangeKey, KeyIds, SubAccount, UpdatedKey
from bot.domain.keys import KeySpec
from bot.domain.secret import Secret
from bot.kucoin import models
from bot.kucoin.client import KucoinClient
from bot.kucoin.transport import DELETES_PER_WINDOW
from bot.kucoin.wire import API_KEY


class KucoinExchange:
    """kukey's Exchange port on a KucoinClient. Thread-safe, as the client is."""

    name = "KuCoin"
    # As many deletes may be in flight as one window of the Management pool pays for (2000 / 30 = 66);
    # the client's rate gate holds back any beyond the budget left and waits for the reset.
    max_parallel_deletes = DELETES_PER_WINDOW

    def __init__(self, client: KucoinClient) -> None:
        self.client = client

    def __repr__(self) -> str:
        return "KucoinExchange(...)"

    # KuCoin's apiKeys are 24 lower-case hexadecimal characters; people may paste them in upper case.
    key_ids = KeyIds("KuCoin", "24 hexadecimal characters", lambda text: API_KEY.fullmatch(text) is not None,
                     str.lower)

    def new_passphrase(self) -> Secret:
        return models.generate_passphrase()

    def create_key(self, spec: KeySpec, *, passphrase: Secret, remark: str) -> CreatedKey:
        made = self.client.create_key(spec, passphrase=passphrase, remark=remark)
        return CreatedKey(api_key=made.api_key, secret=None if made.secret_lost else made.api_secret,
                          permissions=made.permissions, created_at=made.created_at)

    def list_keys(self, sub_account: str) -> list[ExchangeKey]:
        return [ExchangeKey(api_key=k.api_key, sub_account=k.sub_account or sub_account, remark=k.remark,
                            permissions=k.permissions, created_at=k.created_at)
                for k in self.client.list_keys(sub_account)]

    def update_key(self, api_key: str, spec: KeySpec, *, passphrase: Secret) -> UpdatedKey:
        modified = self.client.modify_key(api_key, spec, passphrase=passphrase)
        return UpdatedKey(api_key=modified.api_key, permissions=modified.permissions, ips=modified.ips)

    def delete_key(self, sub_account: str, api_key: str, passphrase: Secret) -> bool:
        return self.client.delete_key(sub_account, api_key, passphrase)

    def delete_wait(self, deletes: int) -> float:
        return self.client.delete_wait(deletes)

    def ready_deletes(self, sub_account: str, deletes: int) -> None:
        self.client.learn_budget(sub_account)
        self.client.open_connections(deletes)

    def list_sub_accounts(self) -> list[SubAccount]:
        return [SubAccount(name=a.name, frozen=a.frozen) for a in self.client.list_sub_accounts()]

    def close(self) -> None:
        self.client.close()
