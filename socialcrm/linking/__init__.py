"""Linking mentions to customers: identities, contact points and numbers in the text, fuzzy suggestions."""

from socialcrm.linking.customers import CustomerCache, resolve_customer
from socialcrm.linking.link import LinkResult, expect_links, link_mention, link_mentions
from socialcrm.linking.normalize import normalize_email, normalize_handle, normalize_name, normalize_phone
from socialcrm.linking.prospects import ensure_prospect, prospect_ref

__all__ = [
    "CustomerCache",
    "LinkResult",
    "ensure_prospect",
    "link_mention",
    "link_mentions",
    "expect_links",
    "normalize_email",
    "normalize_handle",
    "normalize_name",
    "normalize_phone",
    "prospect_ref",
    "resolve_customer",
]
