"""Everything that touches the Azure SDK: credentials, cached SDK client factories, and exception mapping.

Kinds call into here; the generic reconciler never does (it only sees `reconciler.errors`).
"""
