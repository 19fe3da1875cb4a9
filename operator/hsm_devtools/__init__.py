"""Development tooling: the local Kubernetes control plane and the `make run` orchestration.

Used by the test fixtures and the Makefile; never imported by the product packages.
"""
