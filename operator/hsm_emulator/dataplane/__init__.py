"""The data plane of each emulated Managed HSM: keys, crypto operations, local RBAC, activation and settings.

Every HSM is served on its own port (see ``docs/emulator-design.md``); the modules here implement what that port
answers. Routes stay thin: they parse and render the wire format and delegate decisions to the services
(``keys_service``, ``rbac``, ``activation``...), which own their tables.
"""
