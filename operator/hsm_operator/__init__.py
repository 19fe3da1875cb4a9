"""The kopf operator that reconciles ManagedHSM, HSMKey, HSMRoleAssignment and friends, Terraform-style.

It talks to the HSM only through the official Azure SDK clients and never imports the emulator package.
"""
