"""SPDY/3.1 framing as kubectl's port-forward uses it: frames reassembled from any slicing, header blocks
through the session's zlib contexts (with the spec's dictionary, whose zlib id is the one SPDY peers expect)."""

from __future__ import annotations

import struct
import zlib

from shoal.apiserver import spdy


def test_dictionary_is_the_specs() -> None:
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2


def test_frames_from_any_slicing() -> None:
    ours, theirs = spdy.HeaderCodec(), spdy.HeaderCodec()
    block = theirs.encode({"streamType": "data", "port": "8080", "requestID": "0"})
    stream = (spdy.control(spdy.SYN_STREAM, struct.pack(">IIH", 3, 0, 0) + block)
              + spdy.data(3, b"hello") + spdy.data(3, b"", spdy.FLAG_FIN)
              + spdy.control(spdy.PING, struct.pack(">I", 1)))
    for size in (1, 3, 7, len(stream)):
        reader = spdy.FrameReader()
        frames: list[spdy.Control | spdy.Data] = []
        for i in range(0, len(stream), size):
            frames += reader.feed(stream[i:i + size])
        assert [type(f).__name__ for f in frames] == ["Control", "Data", "Data", "Control"]
        first = frames[0]
        assert isinstance(first, spdy.Control) and first.type == spdy.SYN_STREAM
        sid, hb = spdy.syn_stream_id(first.body)
        assert sid == 3
        if size == 1:
            assert ours.decode(hb) == {"streamtype": ["data"], "port": ["8080"], "requestid": ["0"]}
        d = frames[1]
        assert isinstance(d, spdy.Data) and (d.stream, d.data) == (3, b"hello")
        assert isinstance(frames[2], spdy.Data) and frames[2].flags & spdy.FLAG_FIN


def test_header_contexts_carry_across_blocks() -> None:
    a, b = spdy.HeaderCodec(), spdy.HeaderCodec()
    for i in range(3):
        assert b.decode(a.encode({"port": str(i), "streamType": "error"})) == {"port": [str(i)],
                                                                               "streamtype": ["error"]}
