"""The official SDK (kucoin-universal-sdk 1.3.2, test-only), imported once with its import-time noise muted.

Its generated models use a pydantic feature deprecated since 2.0, which warns at import; the test suite
turns warnings into errors, so the import happens here under a narrow filter.
"""

from __future__ import annotations

import warnings

import pytest
from pydantic.warnings import PydanticDeprecatedSince20

with warnings.catch_warnings():
    warnings.simplefilter("ignore", PydanticDeprecatedSince20)
    from kucoin_universal_sdk.api.client import DefaultClient
    from kucoin_universal_sdk.generate.account.subaccount import (
        AddSubAccountApiReq,
        DeleteSubAccountApiReq,
        GetSpotSubAccountsSummaryV2Req,
        GetSubAccountApiListReq,
        ModifySubAccountApiReq,
    )
    from kucoin_universal_sdk.internal.infra.default_signer import KcSigner
    from kucoin_universal_sdk.internal.infra.default_transport import DefaultTransport
    from kucoin_universal_sdk.model.client_option import ClientOptionBuilder
    from kucoin_universal_sdk.model.common import RestError
    from kucoin_universal_sdk.model.transport_option import TransportOptionBuilder

__all__ = [
    "SDK_WARNINGS",
    "AddSubAccountApiReq",
    "ClientOptionBuilder",
    "DefaultClient",
    "DefaultTransport",
    "DeleteSubAccountApiReq",
    "GetSpotSubAccountsSummaryV2Req",
    "GetSubAccountApiListReq",
    "KcSigner",
    "ModifySubAccountApiReq",
    "RestError",
    "TransportOptionBuilder",
]

# The SDK reads `model_fields` on instances at request time (deprecated in pydantic 2.11): mark SDK tests.
SDK_WARNINGS = pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning")
