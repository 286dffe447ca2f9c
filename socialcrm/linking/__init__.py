"""Linking mentions to customers: identities, contact points and numbers in the text, fuzzy suggestions."""

from socialcrm.linking.link import LinkResult, ensure_prospect, link_mention, prospect_ref, resolve_customer
from socialcrm.linking.normalize import normalize_email, normalize_handle, normalize_name, normalize_phone

__all__ = [
    "LinkResult",
    "ensure_prospect",
    "link_mention",
    "normalize_email",
    "normalize_handle",
    "normalize_name",
    "normalize_phone",
    "prospect_ref",
    "resolve_customer",
]
