"""Mutations of fuzz inputs, deterministic for a given ``random.Random``.

- :func:`mutate_bytes`: what libFuzzer does to bytes (bit flips, interesting
  values, inserts, deletes, copies, splices with another input, dictionary
  tokens, truncation);
- :func:`mutate_der`: the DER-aware mutator of the Rust targets
  (fuzz/src/lib.rs) in Python: the input is read as a tree of elements, an
  element's contents, tag, place or presence changes, or it is copied from
  another input, wrapped, nested past the depth limit, and the tree is
  written back with correct lengths, except when a length itself is the
  mutation (non-minimal, off by one, indefinite, huge);
- :func:`mutate_text`: line-aware byte mutation with a dictionary, for the
  config, DN and pass phrase parsers.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Node", "mutate_bytes", "mutate_der", "mutate_text", "parse_der", "write_der"]

#: Deepest tree read; the core's own nesting limit is 64.
MAX_DEPTH = 80

_INTERESTING_BYTES = (0x00, 0x01, 0x02, 0x05, 0x30, 0x7F, 0x80, 0x81, 0x82, 0xA0, 0xFF)

#: Contents on the boundaries of DER's rules for the common types.
_INTERESTING_CONTENTS: tuple[bytes, ...] = (
    b"",
    b"\x00",
    b"\x01",
    b"\x7f",
    b"\x80",
    b"\xff",
    b"\x00\x80",
    b"\x00\x7f",
    b"\xff\x80",
    b"\xff\x7f",
    b"\x7f\xff\xff\xff",
    b"\x00\x80\x00\x00\x00",
    b"\x7f\xff\xff\xff\xff\xff\xff\xff",
    b"\x00\x80\x00\x00\x00\x00\x00\x00\x00",
    b"\x80\x00\x00\x00\x00\x00\x00\x00",
    b"\x01" + b"\x00" * 40,
    b"\x07\x80",
    b"\x00\x00",
    b"\x01\xff",
    b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b",  # sha256WithRSAEncryption
    b"\x2a\x86\x48\xce\x3d\x04\x03\x02",  # ecdsa-with-SHA256
    b"\x2b\x65\x70",  # Ed25519
    b"\x2a\x86\x48\x86\xf6\x7d\x07\x42\x0d",  # PasswordBasedMac
    b"\x2a\x86\x48\x86\xf7\x0d\x01\x05\x0e",  # PBMAC1
    b"\x2a\x86\x48\x86\xf7\x0d\x01\x05\x0c",  # PBKDF2
    b"\x60\x86\x48\x01\x65\x03\x04\x02\x01",  # sha256
    b"\x2a\x86\x48\x86\xf7\x0d\x02\x09",  # hmacWithSHA256
    b"\x2b\x06\x01\x05\x05\x07\x04\x0d",  # id-it-implicitConfirm
    b"\x2b\x06\x01\x05\x05\x07\x04\x11",  # id-it-caCerts
    b"\x2b\x06\x01\x05\x05\x07\x05\x01\x05",  # id-regCtrl-oldCertID
    b"\x55\x04\x03",  # commonName
    b"\x55\x04\x06",  # countryName
    b"\x55\x1d\x11",  # subjectAltName
    b"\x2a\xff\xff\xff\xff\xff\xff\xff\xff\x7f",  # an arc past 64 bits
    b"\x80\x01",
    b"\xc3\x28",  # invalid UTF-8
    b"\xed\xa0\x80",  # a UTF-8 surrogate
    b"\x00\x00\xd8\x00",  # a UTF-32 surrogate
    b"\xd8\x00",  # a lone UTF-16 surrogate
    b"a",
    b"\x00a",
    b"491231235959Z",
    b"500101000000Z",
    b"20500101000000Z",
    b"20240229120000.5Z",
    b"20241301000000Z",
    b"99991231235959Z",
    b"00000101000000Z",
    b"20240101000000+0100",
    b"20240101000000",
    b"\x0a\x01\x00",
    b"\x02\x01\x00",
    b"\x05\x00",
    b"\x30\x00",
    b"\x31\x00",
    b"\x7f" * 300,
)

#: Identifier octets the CMP schema uses.
_UNIVERSAL_TAGS = (
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0A, 0x0C, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1A,
    0x1C, 0x1E, 0x30, 0x31,
)  # fmt: skip


@dataclass
class Node:
    """One DER element: identifier octets, and either primitive contents or
    children. ``length`` replaces the written length octets (a mutation)."""

    tag: bytes
    data: bytes = b""
    children: list[Node] | None = None
    length: bytes | None = field(default=None, compare=False)

    def copy(self) -> Node:
        kids = None if self.children is None else [c.copy() for c in self.children]
        return Node(self.tag, self.data, kids, self.length)


def _parse_one(data: bytes, pos: int, depth: int) -> tuple[Node, int] | None:
    start = pos
    if pos >= len(data):
        return None
    first = data[pos]
    pos += 1
    if first & 0x1F == 0x1F:
        while True:
            if pos >= len(data) or pos - start > 5:
                return None
            pos += 1
            if data[pos - 1] & 0x80 == 0:
                break
    tag = data[start:pos]
    if pos >= len(data):
        return None
    length = data[pos]
    pos += 1
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or pos + count > len(data):
            return None
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        return None
    contents = data[pos:end]
    if first & 0x20 and depth < MAX_DEPTH:
        children = parse_der(contents, depth + 1)
        if children is not None:
            return Node(tag, b"", children), end
    return Node(tag, contents), end


def parse_der(data: bytes, depth: int = 0) -> list[Node] | None:
    """``data`` as a list of elements; ``None`` unless it is exactly that.
    Lenient: long-form lengths are read, and written back minimal."""
    nodes = []
    pos = 0
    while pos < len(data):
        parsed = _parse_one(data, pos, depth)
        if parsed is None:
            return None
        node, pos = parsed
        nodes.append(node)
    return nodes


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def write_der(nodes: Sequence[Node]) -> bytes:
    out = bytearray()
    for node in nodes:
        contents = node.data if node.children is None else write_der(node.children)
        out += node.tag
        out += node.length if node.length is not None else _length(len(contents))
        out += contents
    return bytes(out)


def _paths(nodes: list[Node], prefix: tuple[int, ...], out: list[tuple[int, ...]]) -> None:
    for i, node in enumerate(nodes):
        path = (*prefix, i)
        out.append(path)
        if node.children is not None:
            _paths(node.children, path, out)


def _parent(nodes: list[Node], path: tuple[int, ...]) -> tuple[list[Node], int]:
    lst = nodes
    for i in path[:-1]:
        children = lst[i].children
        assert children is not None
        lst = children
    return lst, path[-1]


def _interesting_tag(rng: random.Random) -> bytes:
    choice = rng.randrange(4)
    if choice == 0:
        return bytes([rng.choice(_UNIVERSAL_TAGS)])
    if choice == 1:
        return bytes([0x80 | rng.randrange(31)])
    if choice == 2:
        return bytes([0xA0 | rng.randrange(31)])
    return bytes([rng.choice((0x1F, 0x3F, 0x9F, 0xBF)), rng.randrange(0x80)])  # high tag


def _random_node(rng: random.Random, others: Sequence[bytes]) -> Node | None:
    """An element of another input (cross-over), if one parses."""
    if not others:
        return None
    tree = parse_der(rng.choice(others))
    if not tree:
        return None
    all_paths: list[tuple[int, ...]] = []
    _paths(tree, (), all_paths)
    lst, i = _parent(tree, rng.choice(all_paths))
    return lst[i]


def _mutate_tree(
    nodes: list[Node], rng: random.Random, others: Sequence[bytes], tokens: Sequence[bytes]
) -> bool:
    all_paths: list[tuple[int, ...]] = []
    _paths(nodes, (), all_paths)
    if not all_paths:
        return False
    path = rng.choice(all_paths)
    lst, i = _parent(nodes, path)
    node = lst[i]
    op = rng.randrange(14)
    if op <= 2:  # the contents of a primitive element, byte-mutated
        if node.children is not None:
            return False
        node.data = mutate_bytes(node.data, rng, max(64, 2 * len(node.data) + 16), (), tokens)
    elif op == 3:  # contents on a DER boundary
        node.children, node.data = None, rng.choice(_INTERESTING_CONTENTS)
    elif op == 4:  # another tag, the contents kept
        tag = _interesting_tag(rng)
        if tag[0] & 0x20 and node.children is None:
            node.children = parse_der(node.data) or []
            node.data = b""
        elif not tag[0] & 0x20 and node.children is not None:
            node.data, node.children = write_der(node.children), None
        node.tag = tag
    elif op == 5:  # drop it: an absent OPTIONAL, a missing mandatory field
        del lst[i]
    elif op == 6:  # repeat it: a longer SEQUENCE OF, a duplicate field
        for _ in range(rng.choice((1, 1, 1, 2, 15, 200))):
            lst.insert(i, node.copy())
    elif op == 7:  # swap with a sibling: fields out of order
        j = rng.randrange(len(lst))
        lst[i], lst[j] = lst[j], lst[i]
    elif op == 8:  # replace by a copy of another element of this input
        other = rng.choice(all_paths)
        if other[: len(path)] == path:
            return False
        olst, oi = _parent(nodes, other)
        lst[i] = olst[oi].copy()
    elif op == 9:  # replace by an element of another input
        donor = _random_node(rng, others)
        if donor is None:
            return False
        lst[i] = donor
    elif op == 10:  # wrap in a context tag (EXPLICIT), or unwrap a single child
        if node.children is not None and len(node.children) == 1 and rng.randrange(2):
            lst[i] = node.children[0]
        else:
            lst[i] = Node(bytes([0xA0 | rng.randrange(27)]), b"", [node])
    elif op == 11:  # nest deep: around the core's limit of 64, and far past it
        inner = node
        for _ in range(rng.choice((8, 62, 63, 64, 65, 100, 300))):
            inner = Node(rng.choice((b"\x30", b"\xa0", b"\xa1", b"\x31")), b"", [inner])
        lst[i] = inner
    elif op == 12:  # a bad length: non-minimal, off by one, indefinite, huge
        size = len(node.data if node.children is None else write_der(node.children))
        node.length = rng.choice(
            (
                b"\x81" + bytes([size & 0xFF]),
                b"\x82" + (size & 0xFFFF).to_bytes(2, "big"),
                _length(size + 1),
                _length(max(size - 1, 0)),
                b"\x80",
                b"\x84\xff\xff\xff\xff",
                b"\x85\x01\x00\x00\x00\x00",
            )
        )
    else:  # insert an element from another input next to this one
        donor = _random_node(rng, others)
        if donor is None:
            return False
        lst.insert(i, donor)
    return True


def mutate_der(
    data: bytes,
    rng: random.Random,
    max_size: int,
    others: Sequence[bytes] = (),
    tokens: Sequence[bytes] = (),
) -> bytes:
    """One to four structural mutations of ``data``; byte-level mutation a
    fifth of the time, or when ``data`` does not parse as DER."""
    nodes = parse_der(data) if rng.randrange(5) else None
    if not nodes:
        return mutate_bytes(data, rng, max_size, others, tokens)
    changed = False
    try:
        for _ in range(1 + rng.randrange(4)):
            changed |= _mutate_tree(nodes, rng, others, tokens)
        out = write_der(nodes)
    except RecursionError:  # nested deep more than once: start over
        return mutate_bytes(data, rng, max_size, others, tokens)
    if not changed or len(out) > max_size:
        return mutate_bytes(data, rng, max_size, others, tokens)
    return out


def _one_byte_op(
    buf: bytearray, rng: random.Random, others: Sequence[bytes], tokens: Sequence[bytes]
) -> None:
    n = len(buf)
    op = rng.randrange(13)
    if n == 0 and op < 9:
        op = 9
    if op == 0:  # flip a bit
        pos = rng.randrange(n)
        buf[pos] ^= 1 << rng.randrange(8)
    elif op == 1:  # an interesting byte
        buf[rng.randrange(n)] = rng.choice(_INTERESTING_BYTES)
    elif op == 2:  # a random byte
        buf[rng.randrange(n)] = rng.randrange(256)
    elif op == 3:  # add or subtract a little
        pos = rng.randrange(n)
        buf[pos] = (buf[pos] + rng.choice((-2, -1, 1, 2, 16, -16))) & 0xFF
    elif op == 4:  # delete a range
        pos = rng.randrange(n)
        del buf[pos : pos + 1 + rng.randrange(min(16, n - pos))]
    elif op == 5:  # duplicate a range in place
        pos = rng.randrange(n)
        chunk = buf[pos : pos + 1 + rng.randrange(min(32, n - pos))]
        buf[pos:pos] = chunk
    elif op == 6:  # copy a range over another place
        src, dst = rng.randrange(n), rng.randrange(n)
        chunk = buf[src : src + 1 + rng.randrange(min(32, n - src))]
        buf[dst : dst + len(chunk)] = chunk
    elif op == 7:  # truncate
        del buf[rng.randrange(n) :]
    elif op == 8:  # swap two bytes
        a, b = rng.randrange(n), rng.randrange(n)
        buf[a], buf[b] = buf[b], buf[a]
    elif op == 9:  # insert random bytes
        pos = rng.randrange(n + 1)
        buf[pos:pos] = bytes(rng.randrange(256) for _ in range(1 + rng.randrange(8)))
    elif op == 10 and tokens:  # insert a dictionary token
        pos = rng.randrange(n + 1)
        buf[pos:pos] = rng.choice(tokens)
    elif op == 11 and others:  # splice with another input
        other = rng.choice(others)
        cut = rng.randrange(n + 1)
        buf[cut:] = other[rng.randrange(len(other) + 1) :]
    else:  # insert a run of one byte
        pos = rng.randrange(n + 1)
        buf[pos:pos] = bytes([rng.choice(_INTERESTING_BYTES)]) * rng.choice((1, 2, 4, 64))


def mutate_bytes(
    data: bytes,
    rng: random.Random,
    max_size: int,
    others: Sequence[bytes] = (),
    tokens: Sequence[bytes] = (),
) -> bytes:
    """One to eight byte-level mutations, at most ``max_size`` bytes out."""
    buf = bytearray(data)
    for _ in range(1 + rng.randrange(8) if rng.randrange(3) == 0 else 1):
        _one_byte_op(buf, rng, others, tokens)
    return bytes(buf[:max_size])


def mutate_text(
    data: bytes,
    rng: random.Random,
    max_size: int,
    others: Sequence[bytes] = (),
    tokens: Sequence[bytes] = (),
) -> bytes:
    """Byte mutation with the parser's tokens, plus line-level changes
    (duplicate, drop, swap, take from another input)."""
    lines = data.split(b"\n")
    op = rng.randrange(10)
    if op == 0 and len(lines) > 1:
        i = rng.randrange(len(lines))
        lines.insert(rng.randrange(len(lines) + 1), lines[i])
    elif op == 1 and len(lines) > 1:
        del lines[rng.randrange(len(lines))]
    elif op == 2 and len(lines) > 1:
        a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[a], lines[b] = lines[b], lines[a]
    elif op == 3 and others:
        donor = rng.choice(others).split(b"\n")
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(donor))
    elif op in (4, 5, 6) and tokens:
        buf = bytearray(data)
        for _ in range(1 + rng.randrange(3)):
            pos = rng.randrange(len(buf) + 1)
            token = rng.choice(tokens)
            if rng.randrange(3) == 0:  # overwrite instead of insert
                buf[pos : pos + len(token)] = token
            else:
                buf[pos:pos] = token
        return bytes(buf[:max_size])
    else:
        return mutate_bytes(data, rng, max_size, others, tokens)
    return b"\n".join(lines)[:max_size]
