"""swf_meta worker: header against the file's first bytes and libmagic, and FWS/ZWS variants of the real
CWS sample built here (zlib-decompressed, then stored plain or LZMA-compressed) giving the same movie."""

from __future__ import annotations

import lzma
import struct
import zlib

import magic
import pytest

from workbench.exceptions import WorkerFailed
from workbench.testing import require_data, run_worker


@pytest.fixture(scope="module")
def cws() -> bytes:
    return require_data("swf/unknown.swf").read_bytes()


def test_header_fields_match_the_first_bytes_and_libmagic(cws: bytes) -> None:
    output = run_worker("swf_meta", cws, filename="unknown.swf")
    assert output["signature"] == cws[:3].decode() == "CWS"
    assert output["compression"] == "zlib"
    assert output["version"] == cws[3]
    # libmagic: "Macromedia Flash data (compressed), version 9"
    assert f"version {output['version']}" in magic.from_buffer(cws)
    assert output["file_length"] == struct.unpack("<I", cws[4:8])[0]
    assert output["body_length"] == len(zlib.decompress(cws[8:])) == output["file_length"] - 8
    assert output["body_truncated"] is False


def test_movie_properties_and_tags_of_the_real_sample(cws: bytes) -> None:
    output = run_worker("swf_meta", cws, filename="unknown.swf")
    body = zlib.decompress(cws[8:])
    nbits = body[0] >> 3
    rect_bytes = (5 + 4 * nbits + 7) // 8
    rate_fraction, rate_whole, frames = struct.unpack_from("<BBH", body, rect_bytes)
    assert output["frame_rate"] == rate_whole + rate_fraction / 256
    assert output["frame_count"] == frames
    size = output["frame_size"]
    assert size["width"] == (size["xmax"] - size["xmin"]) / 20  # twips
    assert size["height"] == (size["ymax"] - size["ymin"]) / 20
    # A Flex 4 movie: its Metadata tag says so, and its ActionScript 3 code sits in one DoABC tag
    assert "Adobe Flex 4 Application" in output["metadata"]
    assert output["tag_counts"]["DoABC"] == 1 and output["tag_counts"]["End"] == 1
    assert output["has_end_tag"] is True and output["tag_error"] is None
    assert output["tag_total"] == sum(output["tag_counts"].values())


def test_uncompressed_and_lzma_variants_give_the_same_movie(cws: bytes) -> None:
    body = zlib.decompress(cws[8:])
    expected = run_worker("swf_meta", cws, filename="unknown.swf")
    fws = b"FWS" + cws[3:8] + body
    alone = lzma.compress(body, format=lzma.FORMAT_ALONE)  # 5 property bytes, 8-byte size, then the data
    zws = b"ZWS" + cws[3:8] + struct.pack("<I", len(alone) - 13) + alone[:5] + alone[13:]
    for raw, signature, compression in ((fws, "FWS", "uncompressed"), (zws, "ZWS", "lzma")):
        output = run_worker("swf_meta", raw, filename=f"{signature}.swf", type_tag="swf")
        assert output == {**expected, "signature": signature, "compression": compression}


def test_body_is_cut_at_max_uncompressed_mb_and_reported(cws: bytes) -> None:
    options = {"swf_meta": {"max_uncompressed_mb": 0.01}}
    output = run_worker("swf_meta", cws, filename="unknown.swf", options=options)
    assert output["body_truncated"] is True and output["body_length"] == int(0.01 * (1 << 20))
    assert output["has_end_tag"] is False and output["tag_error"] is not None


def test_a_file_that_is_not_swf_fails_with_a_clear_message() -> None:
    with pytest.raises(WorkerFailed, match="not an SWF file"):
        run_worker("swf_meta", b"XWS\x09" + bytes(20), filename="fake.swf", type_tag="swf")


def test_corrupt_compressed_body_fails_with_a_clear_message(cws: bytes) -> None:
    damaged = cws[:100] + b"\xff" * 10 + cws[110:]
    with pytest.raises(WorkerFailed, match="zlib-compressed body of this CWS file is corrupt"):
        run_worker("swf_meta", damaged, filename="damaged.swf", type_tag="swf")
