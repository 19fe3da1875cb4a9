"""The control plane's PKI and kubeconfig: what kube-apiserver and clients rely on, checked without starting them."""

from __future__ import annotations

import base64
import ipaddress
import stat
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hsm_devtools import kubeconfig, pki


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_every_certificate_is_signed_by_the_ca_and_fit_for_its_use(tmp_path: Path) -> None:
    files = pki.generate_pki(tmp_path)
    ca = _cert(files.ca_cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    serving, admin = _cert(files.serving_cert), _cert(files.admin_cert)
    for leaf in (serving, admin):
        leaf.verify_directly_issued_by(ca)  # raises if not

    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert ExtendedKeyUsageOID.SERVER_AUTH in serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value

    # kube-apiserver maps a client certificate's CN to the user and each O to a group.
    assert admin.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == pki.ADMIN_USER
    assert [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:masters"]
    assert ExtendedKeyUsageOID.CLIENT_AUTH in admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value


def test_private_keys_are_owner_only_and_service_account_key_is_rsa(tmp_path: Path) -> None:
    files = pki.generate_pki(tmp_path)
    for key in (files.ca_key, files.serving_key, files.admin_key, files.service_account_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    sa_key = serialization.load_pem_private_key(files.service_account_key.read_bytes(), password=None)
    assert isinstance(sa_key, rsa.RSAPrivateKey)  # service-account tokens are RS256
    sa_public = serialization.load_pem_public_key(files.service_account_public_key.read_bytes())
    assert sa_public.public_numbers() == sa_key.public_key().public_numbers()
    admin_key = serialization.load_pem_private_key(files.admin_key.read_bytes(), password=None)
    assert isinstance(admin_key, ec.EllipticCurvePrivateKey)


def test_every_start_gets_fresh_credentials(tmp_path: Path) -> None:
    first = _cert(pki.generate_pki(tmp_path).ca_cert)
    second = _cert(pki.generate_pki(tmp_path).ca_cert)
    assert first.public_key() != second.public_key()


def test_kubeconfig_embeds_the_credentials(tmp_path: Path) -> None:
    files = pki.generate_pki(tmp_path / "pki")
    path = kubeconfig.write_kubeconfig(
        tmp_path / "kubeconfig",
        server="https://127.0.0.1:6443",
        ca_cert=files.ca_cert,
        client_cert=files.admin_cert,
        client_key=files.admin_key,
        user=pki.ADMIN_USER,
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.with_name("kubeconfig.partial").exists()
    document = yaml.safe_load(path.read_text())
    context = next(c["context"] for c in document["contexts"] if c["name"] == document["current-context"])
    cluster = next(c["cluster"] for c in document["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in document["users"] if u["name"] == context["user"])
    assert cluster["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == files.ca_cert.read_bytes()
    assert base64.b64decode(user["client-certificate-data"]) == files.admin_cert.read_bytes()
    assert base64.b64decode(user["client-key-data"]) == files.admin_key.read_bytes()
