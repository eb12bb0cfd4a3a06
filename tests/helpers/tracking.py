"""Reading tracking-number members in tests: an entry keeps other buyers by their tag."""

from __future__ import annotations

from stream.core.tracking import member_tag


def named(members: dict[str, str], *buyers: str) -> dict[str, str]:
    """``members`` with the tags of ``buyers`` read back as their ids (a touch returns its own
    buyer by id and the others by tag, ``stream.core.tracking.member_tag``)."""
    ids = {member_tag(buyer): buyer for buyer in buyers}
    return {ids.get(member, member): store for member, store in members.items()}
