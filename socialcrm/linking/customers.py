"""The customers a batch of mentions touches, read once and followed through merges in memory."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, select

from socialcrm.db_lists import among
from socialcrm.models import Customer

LOAD_CHUNK = 500


class CustomerCache:
    """Customers by id for one batch: loaded in bulk on first need, merges followed to the survivor.

    The objects live in the session like any loaded row, so a change to one (tags added by a rule) is
    written at the next flush and seen by every later mention of the batch.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._by_id: dict[int, Customer | None] = {}

    def load(self, ids: Iterable[int | None]) -> None:
        """Read the customers with these ids (and the records they were merged into) not read yet."""
        wanted = {i for i in ids if i is not None and i not in self._by_id}
        while len(wanted) == 1:  # one record: the session may hold it already (no query then)
            only = wanted.pop()
            customer = self.session.get(Customer, only)
            self._by_id[only] = customer
            survivor = customer.merged_into_id if customer is not None else None
            if survivor is not None and survivor not in self._by_id:
                wanted = {survivor}
        while wanted:
            batch = sorted(wanted)
            for start in range(0, len(batch), LOAD_CHUNK):
                chunk = batch[start : start + LOAD_CHUNK]
                for customer in self.session.exec(select(Customer).where(among(self.session, Customer.id, chunk))):
                    assert customer.id is not None
                    self._by_id[customer.id] = customer
            for missing in wanted - self._by_id.keys():
                self._by_id[missing] = None
            wanted = {
                c.merged_into_id
                for i in batch
                if (c := self._by_id.get(i)) is not None and c.merged_into_id is not None
                if c.merged_into_id not in self._by_id
            }

    def add(self, customer: Customer) -> None:
        """Remember a customer created during the batch (a prospect)."""
        assert customer.id is not None
        self._by_id[customer.id] = customer

    def get(self, customer_id: int | None) -> Customer | None:
        """The customer with this id as stored (not following merges)."""
        if customer_id is None:
            return None
        self.load([customer_id])
        return self._by_id.get(customer_id)

    def resolve(self, customer_id: int | None) -> Customer | None:
        """The customer, following merges to the record that survived; None when there is none."""
        seen: set[int] = set()
        while customer_id is not None and customer_id not in seen:
            seen.add(customer_id)
            customer = self.get(customer_id)
            if customer is None or customer.merged_into_id is None:
                return customer
            customer_id = customer.merged_into_id
        return None


def resolve_customer(session: Session, customer_id: int | None) -> Customer | None:
    """The customer, following merges to the record that survived."""
    return CustomerCache(session).resolve(customer_id)
