"""Tracking-number facts, many to a Redis hash: who shipped with a number, and its ring.

One key per tracking number cost about 111 B of Redis for some 30 B of content (a number,
a buyer id, a store id), and a store ships ~166 numbers a month. Small hashes are stored as
listpacks (ziplists on Redis 6), a few bytes of overhead per entry, so the numbers are spread
over ``buckets`` hashes, one entry each (``link_facts.lua`` has the format), filed under the
number's 64-bit fingerprint (``fingerprint``: 10 B however long the number, at odds of a
collision given there), and its buyers by a 4-byte tag (``member_tag``): about 35 B a number. A bucket stays a listpack while it has at most
``hash-max-listpack-entries`` entries (128 by default on Redis 7) and no field or value longer
than ``hash-max-listpack-value`` (64 B): the script splits a long entry (a number reused by
many orders) into pieces of ``PIECE_BYTES``, and ``buckets`` should keep the live numbers at
about ``TARGET_ENTRIES`` a bucket (``windows.trk_buckets``).

Expiry is "``fact_ttl_s`` after the last touch", per number (to the hour), in event time: a
replay of a month in minutes sees what live traffic saw, and drops a number a ``fact_ttl_s`` of
event time after its last touch; the bucket's own EXPIRE, on the wall clock, is only a backstop.
Every buyer and ring tie keeps when it was first touched, so a touch sees the number as of its
event (``stream.core.facts``). A number's touches work on its bucket alone, so on a Redis
Cluster they run on the bucket's node.
"""

from __future__ import annotations

import re
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from hashlib import blake2b
from typing import Final

KIND: Final = "trk"
PIECE_BYTES: Final = 64  # hash-max-listpack-value's default: longer values unpack the hash
TARGET_ENTRIES: Final = 64  # live numbers per bucket that trk_buckets should aim at
DEFAULT_BUCKETS: Final = 2048  # ~130,000 live numbers: 700 stores x 166 a month, and room

# Bytes the entry format gives a meaning to; ids holding them are escaped with ESCAPE.
ESCAPE: Final = "\x1b"
RING_MARK, ORDER_SEP, STORE_SEP = "\x1d", "\x1e", "\x1f"
TIME_SEP: Final = STORE_SEP  # before the time of a value or an age in an entry (link_facts.lua)
_RESERVED = re.compile("[\x1b\x1d\x1e\x1f]")
_ESCAPED = re.compile("\x1b(.)", re.DOTALL)


def fingerprint(number: str) -> int:
    """The number's 64-bit fingerprint, signed: what Redis files the number under.

    A listpack keeps a field that reads as a 64-bit integer in 10 B, whatever the number's
    length or format. Two numbers live at the same time share a fingerprint with odds of about
    n**2 / 2**65 for n live numbers: 2.7e-4 for a hundred million, so about once in 3,700
    generations of ``fact_ttl_s``; the two would then pass for one parcel. blake2b is stable
    across processes and Python versions, which ``hash()`` is not.

    >>> fingerprint("YT638177723661")
    3976750578894076575
    """
    return int.from_bytes(blake2b(number.encode(), digest_size=8).digest(), "big", signed=True)


def member_tag(member: str) -> str:
    """What an entry keeps of a buyer who shipped with the number: 4 bytes of a hash of its id
    (any length) instead of the id. Only whether two touches are the same buyer's matters (a
    parcel's delivery repeats its shipment; two buyers under one number are the signal). Two
    buyers of one number share a tag with odds of 1 in 2**24 (16.8 million) a pair, and would
    then count as one; the bench month has 40 numbers with more than one buyer in 117,539.

    >>> member_tag("b05948704"), member_tag("b05948705")
    ('xfWI', 'dUUI')
    """
    return urlsafe_b64encode(blake2b(member.encode(), digest_size=3).digest()).decode()


def bucket_of(number: str, buckets: int) -> int:
    """The bucket of ``number``, from its fingerprint (so one number is one bucket's)."""
    return fingerprint(number) % buckets


def bucket_key(number: str, buckets: int, namespace: str) -> str:
    """The hash that holds ``number``; the braces make each bucket one Cluster slot. The tag
    starts with ``f``: buckets of fingerprints (``t``, the buckets of whole numbers before
    them, expire on their own).

    >>> bucket_key("YT638177723661", 2048, "sw:v1")
    'sw:v1:fact:trk:{f671}'
    """
    return f"{namespace}:fact:{KIND}:{{f{bucket_of(number, buckets)}}}"


def bucket_and_field(number: str, buckets: int, namespace: str) -> tuple[str, str]:
    """``bucket_key`` and ``entry_field`` of ``number``, fingerprinted once.

    >>> bucket_and_field("YT638177723661", 2048, "sw:v1")
    ('sw:v1:fact:trk:{f671}', '3976750578894076575')
    """
    field = fingerprint(number)
    return f"{namespace}:fact:{KIND}:{{f{field % buckets}}}", str(field)


def entry_field(number: str) -> str:
    """The number's field in its bucket: its fingerprint, which a listpack packs as an integer.

    >>> entry_field("YT638177723661")
    '3976750578894076575'
    """
    return str(fingerprint(number))


def escape(text: str) -> str:
    """``text`` without the entry format's separators (ids may hold any character).

    >>> escape("o-1"), escape("a\\x1fb")
    ('o-1', 'a\\x1b_b')
    """
    if _RESERVED.search(text) is None:
        return text
    return _RESERVED.sub(lambda found: ESCAPE + chr(ord(found[0]) + 0x40), text)


def unescape(text: str) -> str:
    """The id that ``escape`` gave ``text``."""
    if ESCAPE not in text:
        return text
    return _ESCAPED.sub(lambda found: chr(ord(found[1]) - 0x40), text)


@dataclass(frozen=True, slots=True)
class TrackingEntry:
    """What a touch found of one number, as of its event: its members (buyer tag -> store)
    and ring."""

    orders: dict[str, str]
    ring_id: str | None

    def members_of(self, member: str) -> dict[str, str]:
        """The members, the touching buyer's under its own id (the others keep their tag)."""
        orders = dict(self.orders)
        tag = member_tag(member)
        if tag in orders:
            orders[member] = orders.pop(tag)
        return orders

    @classmethod
    def decode(cls, entry: str | None) -> TrackingEntry:
        """Read a number as ``link_facts.lua`` returns it to a touch (orders, then ring).

        >>> TrackingEntry.decode("o-1\x1fs-1\x1eo-2\x1fs-2\x1dr-1")
        TrackingEntry(orders={'o-1': 's-1', 'o-2': 's-2'}, ring_id='r-1')
        """
        body, _, ring = (entry or "").partition(RING_MARK)
        orders: dict[str, str] = {}
        for member in filter(None, body.split(ORDER_SEP)):
            order, _, store = member.partition(STORE_SEP)
            orders[unescape(order)] = unescape(store)
        return cls(orders, unescape(ring) if ring else None)
