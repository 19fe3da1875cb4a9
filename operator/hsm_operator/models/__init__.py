"""Pydantic models of the custom resources: the single source of both the CRD schemas and the operator's parsing.

`hsm_operator.crdgen` turns these models into the CRDs under `crds/`, and the operator parses every CR body with
the same models (`HSMKeySpec.model_validate(body["spec"])`), so what the apiserver accepts and what the operator
understands cannot drift apart. Each kind lives in its own module; `registry` lists them for the generator and the
handlers.
"""
