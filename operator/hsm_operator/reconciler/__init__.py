"""The generic, kind-agnostic reconcile loop (crossplane-runtime's managed reconciler, in Python).

`external` is the seam kinds implement, `managed` the ordered loop, `policies` the management/deletion/drift policy
checks, `conditions` the status-condition helpers, `annotations` the user-facing annotation keys, `errors` the reason
constants and exception tree. Nothing here imports kopf, the Azure SDK, `kinds` or `azure`.
"""
