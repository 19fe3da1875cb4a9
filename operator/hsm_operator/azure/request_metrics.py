"""An azure-core pipeline policy that counts every HTTP request to Azure by service, method and status code.

Why this module exists: CRDS.md promises "upstream calls by status code" (`hsm_operator_azure_requests_total`), and
only the SDK's pipeline sees every attempt: retries and long-running-operation polls included. `AzureClients`
passes one policy per client as `per_retry_policies`, so azure-core places it right after the retry policy (before
authentication): each attempt is counted once with the status the caller got, and the Key Vault bearer challenge (an
unauthenticated request answered 401, then the authorised one) is one attempt, not a 401. A request that got no
response (connection refused, TLS failure, timeout) counts with status `transport_error`.
"""

from __future__ import annotations

from typing import Any

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy

from hsm_operator.metrics import TRANSPORT_ERROR, Metrics


class AzureRequestCounter(SansIOHTTPPolicy[Any, Any]):
    """Counts responses (and transport failures) of one SDK client, labelled with its `service`."""

    def __init__(self, metrics: Metrics, service: str) -> None:
        super().__init__()
        self.metrics = metrics
        self.service = service

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        self.metrics.azure_response(self.service, request.http_request.method, response.http_response.status_code)

    def on_exception(self, request: PipelineRequest[Any]) -> None:
        # Only exceptions raised below this policy (the transport) reach here; the SDK re-raises them unchanged.
        self.metrics.azure_response(self.service, request.http_request.method, TRANSPORT_ERROR)
