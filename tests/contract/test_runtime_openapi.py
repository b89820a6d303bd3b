"""Each running service's `app.openapi()` has the shape of its contract.

Paths, methods, operationIds, parameters (`in`, `required`), request body presence,
documented status codes and the security requirement of every operation; a difference is
a failure naming the operation. A contract without an implementation fails.
"""

from __future__ import annotations

import pytest

from tests.contract.support.openapi_bundle import bundle_openapi, openapi_names
from tests.contract.support.openapi_shape import compare
from tests.contract.support.platform import ContractPlatform


@pytest.mark.parametrize("name", openapi_names())
def test_runtime_openapi_has_the_shape_of_its_contract(
    name: str, contract_platform: ContractPlatform
) -> None:
    app = contract_platform.app(name)
    differences = compare(bundle_openapi(name), app.openapi())
    if differences:
        pytest.fail(
            f"{name}: the served OpenAPI differs from contracts/openapi/{name}.yaml:\n  "
            + "\n  ".join(differences),
            pytrace=False,
        )


def test_a_missing_status_and_a_changed_security_are_named() -> None:
    contract = bundle_openapi("order")
    served = bundle_openapi("order")
    del served["paths"]["/orders"]["post"]["responses"]["503"]
    served["paths"]["/orders/{order_id}"]["get"]["security"] = []
    differences = compare(contract, served)
    assert any("POST /orders (placeOrder): status codes" in d and "'503'" in d for d in differences)
    assert any("GET /orders/{order_id} (getOrder): security" in d for d in differences)
