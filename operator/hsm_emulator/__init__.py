"""The emulated Azure Key Vault Managed HSM service: Entra ID, ARM management plane and the HSM data plane.

It speaks the real wire protocol so the official Azure SDKs work against it unmodified. It never imports the
operator package (import-linter enforces it): the two meet only over HTTPS.
"""
