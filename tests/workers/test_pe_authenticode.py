"""pe_authenticode on every PE in ../shared/data, against osslsigncode (digests, signer) and openssl (certificates).

What ../shared/data/pe holds: 32 files with a certificate table (31 in pe/good, 1 in pe/bad whose table
pointer is bogus), signed 2012-2013 with MD5, SHA-1 and SHA-256 (one file carries a nested second signature).
osslsigncode cannot build those old chains with Debian's CA bundle (VeriSign/Thawte roots are gone from it),
so the chain verdict is compared with signify's own bundle only; digests, signers and certificates are compared
with the two independent tools.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import ssl
import struct
import subprocess
import sys
from pathlib import Path

import pefile
import pytest

from workbench.testing import REPO_ROOT, make_workbench, require_data, run_worker

SECURITY = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]


def osslsigncode(path: Path) -> list[dict]:
    """osslsigncode verify: per signature its digest algorithm, signed and calculated digest, signer, timestamp."""
    if shutil.which("osslsigncode") is None:
        pytest.skip("osslsigncode is not installed: run ./install.sh or apt-get install osslsigncode")
    text = subprocess.run(["osslsigncode", "verify", "-in", str(path)], capture_output=True, text=True,
                          timeout=60).stdout
    found = []
    for block in re.split(r"^Signature Index: \d+.*$", text, flags=re.M)[1:]:
        signer = re.search(r"Signer's certificate:\s*-+\s*Signer #0:\s*Subject: (.*)\n\s*Issuer : .*\n"
                           r"\s*Serial : (\w+)", block)
        stamp = re.search(r"Timestamp time: (.*)", block)
        found.append({
            "algorithm": re.search(r"Message digest algorithm\s*: (\S+)", block).group(1).lower().replace("-", ""),
            "current": re.search(r"Current message digest\s*: (\w+)", block).group(1).lower(),
            "calculated": re.search(r"Calculated message digest\s*: (\w+)", block).group(1).lower(),
            "signer_cn": re.search(r"/CN=((?:\\/|[^/])+)", signer.group(1)).group(1).replace("\\/", "/")
            if signer else None,
            "signer_serial": int(signer.group(2), 16) if signer else None,
            "timestamp": stamp.group(1).strip() if stamp else None,
        })
    return found


def openssl_certificates(raw: bytes) -> set[str]:
    """SHA-256 fingerprints of the certificates openssl pkcs7 prints from the first WIN_CERTIFICATE's PKCS#7."""
    pe = pefile.PE(data=raw, fast_load=True)
    directory = pe.OPTIONAL_HEADER.DATA_DIRECTORY[SECURITY]
    length = struct.unpack_from("<I", raw, directory.VirtualAddress)[0]
    blob = raw[directory.VirtualAddress + 8:directory.VirtualAddress + length]
    pem = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-print_certs"], input=blob, capture_output=True,
                         check=True).stdout.decode()
    return {hashlib.sha256(ssl.PEM_cert_to_DER_cert(block)).hexdigest()
            for block in re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)}


def common_name(dn: str) -> str:
    return re.search(r"CN=((?:[^,\\]|\\.)+)", dn).group(1).replace("\\", "")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, dict]:
    paths = sorted(require_data("pe/good").iterdir()) + sorted(require_data("pe/bad").iterdir())
    workbench = make_workbench(tmp_path_factory.mktemp("pe_authenticode"))
    try:
        results = {}
        for path in paths:
            md5 = workbench.store_sample(path.read_bytes(), path.name)
            results[path] = workbench.work_request("pe_authenticode", md5)["pe_authenticode"]
        return results
    finally:
        workbench.close()


def test_the_samples_hold_signed_and_unsigned_pes_and_every_verdict_is_explained(outputs: dict[Path, dict]) -> None:
    verdicts = [o["verification"] for o in outputs.values()]
    assert len(outputs) == 84
    assert verdicts.count("OK") >= 25 and verdicts.count("NOT_SIGNED") >= 40
    for output in outputs.values():
        assert output["verified"] is (output["verification"] == "OK")
        assert (output["error"] is None) is output["verified"]


def test_signatures_digests_and_signers_match_osslsigncode(outputs: dict[Path, dict]) -> None:
    compared = 0
    for path, output in outputs.items():
        reference = osslsigncode(path)
        if not output["signed"] or output["verification"] == "PARSE_ERROR":
            assert reference == [], path
            continue
        assert len(output["signatures"]) == len(reference), path
        for got, ref in zip(output["signatures"], reference, strict=True):
            assert got["digest_algorithm"] == ref["algorithm"], path
            assert (got["signed_digest"], got["computed_digest"]) == (ref["current"], ref["calculated"]), path
            assert got["digest_matches"] is (ref["current"] == ref["calculated"]), path
            assert common_name(got["signer"]["subject"]) == ref["signer_cn"], path
            assert int(got["signer"]["serial_number"], 16) == ref["signer_serial"], path
            compared += 1
        assert output["hash_matches"] is all(r["current"] == r["calculated"] for r in reference)
    assert compared >= 30


def test_certificates_match_openssls_reading_of_the_pkcs7_blob(outputs: dict[Path, dict]) -> None:
    for path, output in outputs.items():
        if output["signatures"]:
            first = {c["sha256"] for c in output["signatures"][0]["certificates"]}
            assert first == openssl_certificates(path.read_bytes()), path
            chain = output["chain"]
            if output["verified"]:
                assert chain[0] == output["signatures"][0]["signer"] or chain[0]["sha256"] in {
                    s["signer"]["sha256"] for s in output["signatures"]}, path
                assert all(a["issuer"] == b["subject"] for a, b in zip(chain, chain[1:], strict=False)), path


def test_a_byte_changed_after_signing_breaks_the_hash_and_raises_the_indicator(tmp_path: Path,
                                                                               outputs: dict[Path, dict]) -> None:
    path = next(p for p, o in outputs.items() if o["verified"])
    raw = bytearray(path.read_bytes())
    text = pefile.PE(data=bytes(raw), fast_load=True).sections[0]
    raw[text.PointerToRawData + 100] ^= 0xFF
    tampered = tmp_path / "tampered.exe"
    tampered.write_bytes(bytes(raw))
    output = run_worker("pe_authenticode", tampered)
    assert (output["verification"], output["verified"], output["hash_matches"]) == ("INVALID_DIGEST", False, False)
    (reference,) = osslsigncode(tampered)[:1]
    assert reference["current"] != reference["calculated"] == output["signatures"][0]["computed_digest"]
    indicators = run_worker("pe_indicators", tampered)
    (signature,) = [i for i in indicators["indicators"] if i["category"] == "signature"]
    assert signature["severity"] == 3 and indicators["max_severity"] == 3


def test_unsigned_and_unverifiable_pes_are_flagged_by_pe_indicators(outputs: dict[Path, dict]) -> None:
    unsigned = next(p for p, o in outputs.items() if not o["signed"])
    found = [i for i in run_worker("pe_indicators", unsigned)["indicators"] if i["category"] == "signature"]
    assert found == [{"category": "signature", "description": "not Authenticode-signed", "severity": 1,
                      "attributes": {"verification": "NOT_SIGNED"}}]
    verified = next(p for p, o in outputs.items() if o["verified"])
    assert not [i for i in run_worker("pe_indicators", verified)["indicators"] if i["category"] == "signature"]
    failing = [p for p, o in outputs.items() if o["signed"] and not o["verified"]]
    assert failing, "the samples include a signature that does not verify"
    for path in failing:
        indicator = [i for i in run_worker("pe_indicators", path)["indicators"] if i["category"] == "signature"]
        assert indicator[0]["severity"] >= 2 and outputs[path]["verification"] in indicator[0]["description"]


def test_view_pe_shows_the_signature_verdict_and_signer(outputs: dict[Path, dict], tmp_path: Path) -> None:
    options = {"pe_peid": {"database": str(require_data("signatures") / "peid_userdb.txt")},
               "yara_sigs": {"rules_dir": str(require_data("signatures") / "yara")}}
    signed = next(p for p, o in outputs.items() if o["verified"])
    unsigned = next(p for p, o in outputs.items() if not o["signed"])
    workbench = make_workbench(tmp_path, options)
    try:
        views = {p: workbench.work_request("view_pe", workbench.store_sample(p.read_bytes(), p.name))["view_pe"]
                 for p in (signed, unsigned)}
    finally:
        workbench.close()
    first = outputs[signed]["signatures"][0]
    assert views[signed]["signature"] == {
        "signed": True, "verified": True, "verification": "OK", "hash_matches": True,
        "signer": first["signer"]["subject"], "program_name": first["program_name"],
        "signing_time": first["signing_time"], "digest_algorithm": first["digest_algorithm"]}
    assert views[unsigned]["signature"] == {
        "signed": False, "verified": False, "verification": "NOT_SIGNED", "hash_matches": None, "signer": None,
        "program_name": None, "signing_time": None, "digest_algorithm": None}
    assert "[1] signature: not Authenticode-signed" in views[unsigned]["indicators"]


def test_oscrypto_compat_makes_signify_importable_on_this_openssl() -> None:
    """oscrypto 1.3.0 cannot read OpenSSL '3.0.1x' versions; the compat fix is applied only when that bug bites."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    bare = subprocess.run([sys.executable, "-c", "import oscrypto.asymmetric"], capture_output=True, text=True,
                          env=env)
    fixed = subprocess.run([sys.executable, "-c", "from workbench.analysis import oscrypto_compat\n"
                            "applied = oscrypto_compat.apply()\nimport signify.authenticode\nprint(applied)"],
                           capture_output=True, text=True, env=env)
    assert fixed.returncode == 0, fixed.stderr
    if bare.returncode == 0:
        assert fixed.stdout.strip() == "False"  # a fixed oscrypto: nothing to do
    else:
        assert "Error detecting the version of libcrypto" in bare.stderr
        assert fixed.stdout.strip() == "True"


def test_the_reachable_trust_store_gives_signifys_verdicts_and_chains_with_its_whole_store(
        outputs: dict[Path, dict]) -> None:
    """pe_authenticode verifies against the roots a chain could reach (for speed); signify's whole store agrees."""
    from signify.authenticode import AuthenticodeVerificationResult

    from workbench.analysis.authenticode import SignedPEFile

    compared = 0
    for path, output in outputs.items():
        if not output["signed"] or output["verification"] == "PARSE_ERROR":
            continue
        signed_pe, used = SignedPEFile(io.BytesIO(path.read_bytes())), []
        result, _ = AuthenticodeVerificationResult.call(lambda pe=signed_pe, u=used: u.extend(pe.verify()))
        chains = [list(chain) for _, _, found in used for chain in found][:1]
        whole = [c.sha256_fingerprint.replace(":", "").lower() for c in reversed(chains[0])] if chains else []
        assert (result.name, whole) == (output["verification"], [c["sha256"] for c in output["chain"]]), path
        compared += 1
    assert compared >= 30
