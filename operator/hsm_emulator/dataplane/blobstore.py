"""Azure Blob Storage as full backup/restore sees it: a container URL plus a SAS token, and a few blob operations.

Why this module exists: the backup and restore jobs must talk to a real Blob endpoint (Azure, or Azurite in tests)
with the customer's SAS token, never block the event loop, and turn every storage failure (missing container,
expired or under-privileged token, a token for another container, storage unreachable) into one ``StorageError``
whose message says what was refused and why. The official ``azure-storage-blob`` async client does the wire work;
the storage service itself checks the SAS token, so a bad token fails exactly as it would against Azure.

Locations: ``https://<account>.blob.core.windows.net/<container>`` (host style) or, for an IP address or
``localhost`` host (Azurite, the Azure Storage emulators), ``http://127.0.0.1:10000/<account>/<container>`` (path
style). The Key Vault SDK splits a backup folder URL at the first path segment, so a path-style restore arrives as
``storageResourceUri=http://host/<account>`` + ``folder=<container>/<folder>``; :func:`locate_folder` joins the two
and splits again where the container really is.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from azure.core.exceptions import AzureError as AzureSdkError
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob.aio import ContainerClient, LinearRetry

# Quick failure when storage is down: two retries one second apart, not the SDK's default minute of back-off.
_RETRY_TOTAL = 2
_RETRY_BACKOFF_SECONDS = 1
_CONNECTION_TIMEOUT_SECONDS = 5
_READ_TIMEOUT_SECONDS = 60
# Blobs above this size are uploaded in blocks of this size (large backups stream instead of one huge PUT).
_BLOCK_BYTES = 4 * 1024 * 1024


class InvalidStorageLocation(ValueError):
    """The request names no usable container (checked before a job starts: a 400 for the caller)."""


class StorageError(Exception):
    """Blob storage refused or failed an operation; ``code`` is the storage error code when it sent one."""

    def __init__(self, message: str, code: str = "StorageError") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class ContainerLocation:
    """Where a container lives and the SAS token that opens it."""

    account_url: str  # "https://acct.blob.core.windows.net" or "http://127.0.0.1:10000/devstoreaccount1"
    container: str
    sas_token: str

    @property
    def url(self) -> str:
        return f"{self.account_url}/{self.container}"

    def folder_url(self, folder: str) -> str:
        return f"{self.url}/{folder}"


def _is_path_style(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _split(url: str) -> tuple[str, list[str]]:
    """``(account_url, remaining path segments)`` of a blob URL; raises InvalidStorageLocation."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0..65535
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535", ...
        raise InvalidStorageLocation(f"storageResourceUri '{url}' is not a valid URL: {exc}.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidStorageLocation(
            f"storageResourceUri '{url}' is not an http(s) URL of an Azure Blob Storage container."
        )
    if parts.query or parts.fragment:
        raise InvalidStorageLocation(
            f"storageResourceUri '{url}' must not carry a query string: pass the SAS token in 'token'."
        )
    segments = [segment for segment in parts.path.split("/") if segment]
    origin = f"{parts.scheme}://{parts.netloc}"
    if _is_path_style(parts.hostname):
        if not segments:
            raise InvalidStorageLocation(
                f"storageResourceUri '{url}' names no storage account: an emulator URL looks like "
                "http://127.0.0.1:10000/<account>/<container>."
            )
        return f"{origin}/{segments[0]}", segments[1:]
    return origin, segments


def _token(token: str | None, use_managed_identity: bool) -> str:
    if use_managed_identity:
        raise InvalidStorageLocation(
            "useManagedIdentity is not supported by this emulator (an HSM has no managed identity here): "
            "pass a SAS token in 'token'."
        )
    if token is None or not token.strip():
        raise InvalidStorageLocation("token is required: a SAS token for the container (or useManagedIdentity).")
    return token.strip().lstrip("?")


def locate_container(storage_resource_uri: str, token: str | None, use_managed_identity: bool) -> ContainerLocation:
    """The container a backup is written to (``storageResourceUri`` must be exactly a container URL)."""
    account_url, segments = _split(storage_resource_uri)
    if len(segments) != 1:
        raise InvalidStorageLocation(
            f"storageResourceUri '{storage_resource_uri}' must be the URL of a blob container "
            f"(one path segment after the account), got {len(segments)} segment(s)."
        )
    return ContainerLocation(account_url, segments[0], _token(token, use_managed_identity))


def locate_folder(
    storage_resource_uri: str, folder: str, token: str | None, use_managed_identity: bool
) -> tuple[ContainerLocation, str]:
    """The container and folder name of a backup to restore (see the module docstring for the split)."""
    if not folder.strip("/ "):
        raise InvalidStorageLocation("The backup folder name is empty.")
    account_url, segments = _split(f"{storage_resource_uri.rstrip('/')}/{folder.strip('/')}")
    if len(segments) < 2:
        raise InvalidStorageLocation(
            f"'{storage_resource_uri}' + '{folder}' does not name a folder inside a blob container."
        )
    container, folder_segments = segments[0], segments[1:]
    return ContainerLocation(account_url, container, _token(token, use_managed_identity)), "/".join(folder_segments)


def _describe(exc: HttpResponseError) -> tuple[str, str]:
    # azure-storage-blob adds error_code (the x-ms-error-code header) to the errors it raises
    code = getattr(exc, "error_code", None) or (exc.reason or "StorageError").replace(" ", "")
    first_line = (exc.message or "").strip().splitlines()[0] if exc.message else ""
    return code, first_line


class BlobFolder:
    """Async operations on the blobs of one folder of one container; use as ``async with BlobFolder(...)``."""

    def __init__(self, location: ContainerLocation, folder: str) -> None:
        self.location = location
        self.folder = folder
        self._client = ContainerClient(
            location.account_url,
            location.container,
            credential=location.sas_token,
            retry_policy=LinearRetry(backoff=_RETRY_BACKOFF_SECONDS, retry_total=_RETRY_TOTAL, random_jitter_range=0),
            connection_timeout=_CONNECTION_TIMEOUT_SECONDS,
            read_timeout=_READ_TIMEOUT_SECONDS,
            max_single_put_size=_BLOCK_BYTES,
            max_block_size=_BLOCK_BYTES,
        )

    async def __aenter__(self) -> BlobFolder:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.close()

    @property
    def url(self) -> str:
        return self.location.folder_url(self.folder)

    def _name(self, blob: str) -> str:
        return f"{self.folder}/{blob}"

    def _failure(self, action: str, blob: str, exc: AzureSdkError) -> StorageError:
        where = f"blob '{self._name(blob)}' in container {self.location.url}"
        if isinstance(exc, HttpResponseError) and exc.status_code is not None:
            code, detail = _describe(exc)
            hint = _HINTS.get(code, "")
            return StorageError(
                f"Azure Storage refused to {action} {where}: HTTP {exc.status_code} {code}"
                f"{': ' + detail if detail else ''}{hint}",
                code=code,
            )
        return StorageError(
            f"Azure Storage at {self.location.account_url} could not be reached to {action} {where}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}",
            code="StorageUnavailable",
        )

    async def write(self, blob: str, data: bytes) -> None:
        """Create the blob (never overwrites: a backup folder is written once)."""
        try:
            await self._client.upload_blob(self._name(blob), data, overwrite=False)
        except ResourceExistsError as exc:
            raise StorageError(
                f"Blob '{self._name(blob)}' already exists in container {self.location.url}; a backup folder is "
                "never overwritten.",
                code="BlobAlreadyExists",
            ) from exc
        except AzureSdkError as exc:
            raise self._failure("write", blob, exc) from exc

    async def read(self, blob: str) -> bytes:
        try:
            downloader = await self._client.download_blob(self._name(blob))
            return await downloader.readall()
        except ResourceNotFoundError as exc:
            code, _ = _describe(exc)
            if code == "ContainerNotFound":
                raise self._failure("read", blob, exc) from exc
            raise StorageError(
                f"Blob '{self._name(blob)}' does not exist in container {self.location.url}: the folder is not a "
                "complete Managed HSM backup (wrong folder name, or the backup did not finish).",
                code="BlobNotFound",
            ) from exc
        except AzureSdkError as exc:
            raise self._failure("read", blob, exc) from exc

    async def delete(self, blob: str) -> None:
        try:
            await self._client.delete_blob(self._name(blob))
        except AzureSdkError as exc:
            raise self._failure("delete", blob, exc) from exc


_HINTS = {
    "ContainerNotFound": " (create the container before starting a backup).",
    "AuthenticationFailed": " (the SAS token is invalid or expired, or was signed for another container).",
    "AuthorizationPermissionMismatch": " (the SAS token lacks a permission this operation needs; use 'crdw').",
    "AuthorizationFailure": (
        " (the SAS token does not authorize this operation: it is invalid or expired, signed for another container,"
        " or lacks a permission)."
    ),
    "AuthorizationResourceTypeMismatch": " (the SAS token does not cover blobs of this container).",
}
