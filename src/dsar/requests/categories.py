"""The "right to know categories" (Cal. Civ. Code §1798.110(a)(1)-(4), §1798.115): an answer built from the
data map alone (categories of personal information, of their sources, the purposes, the categories of
recipients), with no data read. The request is a case of type `categories`, answered on the spot; the answer
(which names no person) is kept in its timeline as what was told.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from dsar.datamap.model import DataMap
from dsar.requests.service import PrivacyRequests

__all__ = ["CategoriesAnswer", "CategoriesRequests", "categories_of"]


@dataclass(frozen=True)
class CategoriesAnswer:
    categories: list[str]  # of personal information (§1798.110(a)(1))
    sources: list[str]  # categories of sources (§1798.110(a)(2))
    purposes: list[str]  # business or commercial purposes (§1798.110(a)(3))
    recipients: list[str]  # categories of third parties disclosed to (§1798.110(a)(4))
    legal_bases: list[str]  # for the GDPR's Art. 13/14 facts, when the same answer serves there


def categories_of(dm: DataMap) -> CategoriesAnswer:
    """Every category, source, purpose and recipient the data map declares, sorted and without repeats."""
    cats: set[str] = set()
    sources: set[str] = set()
    purposes: set[str] = set()
    recipients: set[str] = set()
    bases: set[str] = set()
    for coll in dm.collections.values():
        for spec in coll.fields.values():
            cats.update(c.strip() for c in spec.categories if c.strip())
        p = coll.processing
        sources.add(p.origin)
        purposes.add(p.purpose)
        recipients.update(r for r in p.recipients if r.strip())
        bases.add(p.legal_basis)
    return CategoriesAnswer(sorted(cats), sorted(sources), sorted(purposes), sorted(recipients), sorted(bases))


@dataclass(frozen=True)
class AnsweredCategories:
    request_id: str
    answer: CategoriesAnswer


class CategoriesRequests:
    def __init__(self, requests: PrivacyRequests, datamap: Callable[[], DataMap]) -> None:
        self.requests, self.datamap = requests, datamap

    def answer(
        self, tenant: str, email: str, *, channel: str, actor: str, jurisdiction: str | None = None
    ) -> AnsweredCategories:
        """Open the case, answer it from the data map and record the answer, in one transaction."""
        answer = categories_of(self.datamap())  # before the case opens: no data map, no case
        r = self.requests
        with r.db.session() as s, r.batched(s):
            rid = r.open_in(
                s,
                tenant=tenant,
                type="categories",
                channel=channel,
                email=email,
                actor=actor,
                jurisdiction=jurisdiction,
                approved_by_policy=True,
            )
            r.answer_in(s, tenant, rid, actor="policy", data={"answer": asdict(answer)})
        return AnsweredCategories(rid, answer)
