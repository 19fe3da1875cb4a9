"""The emulated Azure Resource Manager: `Microsoft.KeyVault/managedHSMs`, resource groups, moves and Azure RBAC.

The management plane decides who may create, read, change, move and delete HSMs. It never decides anything on
the data plane: no role here carries data actions, and the data plane never consults these assignments. What the
data plane needs from here is the HSM record (`service.get_hsm_by_port`) and the activation switch
(`service.mark_activated`).
"""
