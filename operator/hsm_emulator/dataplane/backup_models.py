"""Request bodies of full backup, restore, selective key restore and their pre-checks (backuprestore.json).

The edge where untrusted JSON becomes typed values; strict types as in ``dataplane.models`` (the real service
answers 400 BadParameter to a wrongly typed body), unknown fields ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)


class SasTokenParameter(_Body):
    """Also the body of ``POST /backup`` and ``POST /prebackup``."""

    storage_resource_uri: StrictStr = Field(alias="storageResourceUri")
    token: StrictStr | None = None
    use_managed_identity: StrictBool = Field(default=False, alias="useManagedIdentity")


class RestoreOperationParameters(_Body):
    """``PUT /restore`` and ``PUT /prerestore``."""

    sas_token_parameters: SasTokenParameter = Field(alias="sasTokenParameters")
    folder_to_restore: StrictStr = Field(alias="folderToRestore")


class SelectiveKeyRestoreOperationParameters(_Body):
    """``PUT /keys/{keyName}/restore`` (note: ``folder``, not ``folderToRestore``)."""

    sas_token_parameters: SasTokenParameter = Field(alias="sasTokenParameters")
    folder: StrictStr
