"""The certificates and keys a throwaway control plane needs, made with `cryptography`.

kube-apiserver needs a serving certificate for the loopback address, a CA that authenticates client certificates
(the admin user is a client certificate whose organisation is `system:masters`), and an RSA key pair that signs
service-account tokens. The cluster lives for one test session or one `make run`, so a single CA signs everything and
nothing is rotated. Files are written 0600 because they are credentials, even for a throwaway cluster.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# A week, like envtest's tiny CA: long enough for any local session, short enough that a leaked file is soon useless.
VALIDITY = datetime.timedelta(days=7)

# The admin identity written into the kubeconfig. `system:masters` bypasses RBAC, as a cluster admin should.
ADMIN_USER = "hsm-devtools-admin"
ADMIN_GROUPS = ("system:masters",)


@dataclass(frozen=True)
class ControlPlanePKI:
    """Paths of the PEM files one control plane uses (all under one directory)."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_public_key: Path


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


def _ec_key() -> ec.EllipticCurvePrivateKey:
    # P-256 keys are generated in microseconds; RSA would add noticeable start-up time for no benefit here.
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # Back-date a little so a clock that is a few seconds apart between processes cannot reject a fresh cert.
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName],
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _ec_key()
    builder = (
        _builder(subject, ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def generate_pki(directory: Path, *, service_account_key_size: int = 2048) -> ControlPlanePKI:
    """Create a CA, the apiserver's serving cert, the admin client cert and the service-account signing key pair.

    Existing files in `directory` are overwritten: every control-plane start gets fresh credentials.
    """
    directory.mkdir(parents=True, exist_ok=True)
    pki = ControlPlanePKI(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        service_account_key=directory / "sa.key",
        service_account_public_key=directory / "sa.pub",
    )

    ca_key = _ec_key()
    ca_name = _name("hsm-devtools-ca")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    serving_cert, serving_key = _leaf(
        ca_cert,
        ca_key,
        _name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes"),
            x509.DNSName("kubernetes.default"),
            x509.DNSName("kubernetes.default.svc"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ],
    )
    admin_cert, admin_key = _leaf(ca_cert, ca_key, _name(ADMIN_USER, ADMIN_GROUPS), ExtendedKeyUsageOID.CLIENT_AUTH, [])

    # Service-account tokens are RS256 by default; the token controller and the apiserver share this key pair.
    service_account_key = rsa.generate_private_key(public_exponent=65537, key_size=service_account_key_size)

    pem = serialization.Encoding.PEM
    (pki.ca_cert).write_bytes(ca_cert.public_bytes(pem))
    _write_private(pki.ca_key, _key_pem(ca_key))
    pki.serving_cert.write_bytes(serving_cert.public_bytes(pem))
    _write_private(pki.serving_key, _key_pem(serving_key))
    pki.admin_cert.write_bytes(admin_cert.public_bytes(pem))
    _write_private(pki.admin_key, _key_pem(admin_key))
    _write_private(pki.service_account_key, _key_pem(service_account_key))
    pki.service_account_public_key.write_bytes(
        service_account_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pki
