"""Realistic, reproducible CRM data for benchmarks and tests: German and English customers, and their orders.

A generated customer base looks like a real one where it matters for speed and matching: first names
and surnames are drawn with a long tail (many people share Müller, Schmidt, Smith, Anna, Thomas),
umlauts and ß appear in names and companies, about four in ten customers work for a company (a few
companies have hundreds of contacts, most have one or two), e-mail addresses follow the usual
patterns of private and company mail, phone numbers come in German national and international
formats (mobile and landline) and in British, American, Austrian and Swiss forms, a share of
customers has social handles, and about one percent were entered twice (same e-mail, the same phone
in another format, or the same name at the same company) so duplicate detection has real work.

Everything is drawn from one seeded generator: the same arguments give the same data.

    from bench.crm_data import generate_people, generate_orders, customers_csv, orders_csv
    people = generate_people(10_000)
    data = customers_csv(people)             # bytes for services.imports.import_customers
    lines = generate_orders(people, 10_000)
    data = orders_csv(lines)

Names are common given names and surnames (facts, not copied text); every domain is under the
reserved ``.example`` top-level domain, so no generated address belongs to anyone.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

GERMAN_FIRST = (
    "Anna Maria Ursula Monika Petra Elisabeth Sabine Renate Helga Karin Brigitte Ingrid Erika Andrea "
    "Gisela Claudia Susanne Gabriele Christine Hildegard Stefanie Julia Katharina Laura Lena Lea Hannah "
    "Sophie Marie Emma Mia Leonie Lisa Sarah Johanna Franziska Jana Nicole Birgit Bärbel Jürgen Jörg "
    "Thomas Michael Andreas Peter Klaus Wolfgang Stefan Christian Hans Uwe Werner Frank Bernd Dieter "
    "Markus Matthias Alexander Martin Tobias Jan Florian Lukas Jonas Leon Felix Maximilian Paul Ben "
    "Niklas Sebastian Daniel Sven Torsten Björn Günter Jens Dirk Ralf Kai Holger Horst Heinz Karl "
    "Friedrich Götz Jörn Käthe Gönül Özlem Ayşe Mehmet Emre Zoë Sören Malte Anke Silke Maren Sönke"
).split()
ENGLISH_FIRST = (
    "James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel Matthew "
    "Anthony Mark Paul Steven Andrew Kenneth Joshua Kevin Brian George Edward Oliver Harry Jack Charlie "
    "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa Margaret Betty "
    "Sandra Ashley Emily Olivia Amelia Isla Ava Chloe Sophie Grace Lucy Ellie Hannah Zoe Emma Megan"
).split()
GERMAN_LAST = (
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer "
    "Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange "
    "Schmitt Werner Schmitz Krause Meier Lehmann Schmid Schulze Maier Köhler Herrmann König Walter "
    "Mayer Huber Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn Schubert Vogel Friedrich Keller "
    "Günther Frank Berger Winkler Roth Beck Lorenz Baumann Franke Albrecht Schuster Simon Ludwig Böhm "
    "Winter Kraus Martin Schumacher Krämer Vogt Stein Jäger Otto Sommer Groß Seidel Heinrich Brandt "
    "Haas Schreiber Graf Schulte Dietrich Ziegler Kuhn Kühn Pohl Engel Horn Busch Bergmann Thomas "
    "Voigt Sauer Arnold Wolff Pfeiffer Straße Gärtner Öztürk Yılmaz Kaya Nowak Kowalski Dąbrowski"
).split()
ENGLISH_LAST = (
    "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson "
    "Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin "
    "Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips "
    "Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey "
    "Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson Ellis Adams Singh "
    "Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt Hussain Campbell Matthews "
    "O'Brien O'Connor McDonald Fitzgerald"
).split()
GERMAN_COMPANY_FORMS = ("GmbH", "GmbH & Co. KG", "AG", "KG", "e.K.", "OHG", "UG (haftungsbeschränkt)")
ENGLISH_COMPANY_FORMS = ("Ltd", "Limited", "LLC", "Inc.", "PLC", "& Sons Ltd", "Group")
GERMAN_TRADES = (
    "Bäckerei Elektrotechnik Sanitär Logistik Maschinenbau Software Brauerei Gartenbau Möbelhaus "
    "Druckerei Autohaus Immobilien Steuerberatung Küchenstudio Kaffeerösterei Zahntechnik Metallbau"
).split()
ENGLISH_TRADES = (
    "Consulting Logistics Engineering Software Bakery Printing Catering Hardware Plumbing Estates Coffee Roasters"
).split()
BRANDS = (
    "Nordlicht Alpenblick Rheinwerk Elbtal Spreeufer Hansa Isartal Weserland Brightwater Oakridge "
    "Riverside Kingsbridge Northwind Redhill Silverline Bluebell Greenfield Ironbridge Südwind Blauwal"
).split()
PRIVATE_MAIL = ("gmx.example", "web.example", "t-online.example", "mailbox.example", "posteo.example", "mail.example")
PRODUCTS = (
    "Kaffeevollautomat",
    "Wasserkocher",
    "Entkalker",
    "Milchaufschäumer",
    "Espressomühle",
    "Toaster",
    "Brotmesser",
    "Ersatzfilter",
    "Reinigungstabletten",
    "Siebträger",
    "Coffee grinder",
    "Kettle",
    "Descaler",
    "Milk frother",
    "Bean-to-cup machine",
    "Replacement carafe",
    "Gift card",
)
STATUSES = ("delivered", "delivered", "delivered", "shipped", "open", "cancelled", "returned")
PHONE_COUNTRIES = ("de", "gb", "us", "at", "ch")
PHONE_COUNTRY_WEIGHTS = (70, 12, 8, 6, 4)
HEADER = (
    "customer_ref",
    "name",
    "email",
    "phone",
    "company",
    "segment",
    "reddit",
    "mastodon",
    "bluesky",
    "discourse",
    "hackernews",
    "feed",
    "tags",
    "consent_marketing",
)
ORDER_HEADER = ("order_number", "customer_ref", "date", "product", "status")


@dataclass(frozen=True)
class Person:
    """One generated customer: what a CRM export holds about them."""

    ref: str
    first: str
    last: str
    name: str
    company: str | None
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    handles: dict[str, str] = field(default_factory=dict)
    segment: str = "b2c"
    tags: tuple[str, ...] = ()
    consent_marketing: bool | None = None
    duplicate_of: str | None = None  # ref of the record this one re-enters (same person, new ref)


@dataclass(frozen=True)
class OrderLine:
    """One row of an orders export: an order, or one line item of it."""

    number: str
    ref: str
    ordered: date
    product: str
    status: str
    german_date: bool = False


@functools.lru_cache(maxsize=4096)
def _ascii(text: str) -> str:
    """``Jürgen Weiß`` -> ``juergen weiss``: how people spell their names in e-mail addresses."""
    folded = text.casefold().translate(str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ı": "i"}))
    decomposed = unicodedata.normalize("NFKD", folded)
    return "".join(ch for ch in decomposed if ch.isascii() and (ch.isalnum() or ch in " -"))


def _long_tail(rng: random.Random, names: Sequence[str], cumulative: list[float]) -> str:
    return rng.choices(names, cum_weights=cumulative)[0]


def _weights(count: int, skew: float = 0.6) -> list[float]:
    """Cumulative Zipf-like weights: the first names drawn far more often than the last (a long tail)."""
    return list(itertools.accumulate(1.0 / (rank + 1) ** skew for rank in range(count)))


class _Generator:
    """Draws people one by one, keeping e-mails and handles unique as a real CRM would."""

    def __init__(self, seed: int, count: int) -> None:
        self.rng = random.Random(seed)
        self.weights = {
            "gf": _weights(len(GERMAN_FIRST)),
            "ef": _weights(len(ENGLISH_FIRST)),
            "gl": _weights(len(GERMAN_LAST)),
            "el": _weights(len(ENGLISH_LAST)),
        }
        self.companies = self._companies(max(3, count // 9))
        self.company_weights = _weights(len(self.companies), 0.6)
        self.emails: set[str] = set()
        self.handles: set[tuple[str, str]] = set()
        self.phones: set[str] = set()

    def _companies(self, count: int) -> list[tuple[str, str, bool]]:
        """(name, mail domain, German?) for ``count`` companies."""
        rng, out, seen = self.rng, [], set()
        while len(out) < count:
            german = rng.random() < 0.7
            last = _long_tail(rng, GERMAN_LAST if german else ENGLISH_LAST, self.weights["gl" if german else "el"])
            shape = rng.random()
            if german:
                form = rng.choice(GERMAN_COMPANY_FORMS)
                if shape < 0.4:
                    name = f"{last} {rng.choice(GERMAN_TRADES)} {form}"
                elif shape < 0.7:
                    name = f"{rng.choice(BRANDS)} {rng.choice(GERMAN_TRADES)} {form}"
                else:
                    name = f"{last} & {_long_tail(rng, GERMAN_LAST, self.weights['gl'])} {form}"
            else:
                form = rng.choice(ENGLISH_COMPANY_FORMS)
                trade = rng.choice(ENGLISH_TRADES)
                name = f"{last} {trade} {form}" if shape < 0.6 else f"{rng.choice(BRANDS)} {trade} {form}"
            if name in seen:
                name = f"{name} {rng.choice(('Nord', 'Süd', 'West', 'Ost', 'North', 'South'))}"
                if name in seen:
                    continue
            seen.add(name)
            slug = "-".join(_ascii(name).replace("&", " ").split()[:2])
            out.append((name, f"{slug}{len(out)}.example", german))
        return out

    def person(self, number: int) -> Person:
        """A new customer (not a re-entry) with ref ``K-{100000 + number}``."""
        rng = self.rng
        german = rng.random() < 0.65
        first = _long_tail(rng, GERMAN_FIRST if german else ENGLISH_FIRST, self.weights["gf" if german else "ef"])
        last = _long_tail(rng, GERMAN_LAST if german else ENGLISH_LAST, self.weights["gl" if german else "el"])
        company = domain = None
        if rng.random() < 0.4:
            company, domain, _ = rng.choices(self.companies, cum_weights=self.company_weights)[0]
        name = f"{last}, {first}" if rng.random() < 0.08 else f"{first} {last}"
        emails = [self._email(first, last, domain)]
        if rng.random() < 0.1:
            emails.append(self._email(first, last, None))
        phones = [self._phone(german)] if rng.random() < 0.8 else []
        if phones and rng.random() < 0.12:
            phones.append(self._phone(german))
        segment = "b2b" if company else ("premium" if rng.random() < 0.1 else "b2c")
        tags = tuple(t for t in ("newsletter", "beta", "event-2026") if rng.random() < 0.07)
        consent = None if rng.random() < 0.5 else rng.random() < 0.6
        return Person(
            ref=f"K-{100000 + number}",
            first=first,
            last=last,
            name=name,
            company=company,
            emails=tuple(emails),
            phones=tuple(phones),
            handles=self._handles(first, last),
            segment=segment,
            tags=tags,
            consent_marketing=consent,
        )

    def _email(self, first: str, last: str, domain: str | None) -> str:
        rng = self.rng
        f, la = _ascii(first).replace(" ", ""), _ascii(last).replace(" ", "").replace("'", "")
        local = rng.choice((f"{f}.{la}", f"{f[0]}.{la}", f"{f}{la}", f"{f}_{la}", f"{la}.{f}", f"{f}.{la}"))
        domain = domain or rng.choice(PRIVATE_MAIL)
        address, n = f"{local}@{domain}", 1
        while address in self.emails:
            n += 1
            address = f"{local}{rng.randint(1, 99) if n < 4 else n}@{domain}"
        self.emails.add(address)
        return address if rng.random() < 0.9 else address.replace(local, local.title(), 1)

    def _phone(self, german: bool) -> str:
        rng = self.rng
        while True:
            country = "de" if german and rng.random() < 0.9 else rng.choices(PHONE_COUNTRIES, PHONE_COUNTRY_WEIGHTS)[0]
            number = _format_phone(rng, country)
            digits = "".join(ch for ch in number if ch.isdigit())[-9:]
            if digits not in self.phones:
                self.phones.add(digits)
                return number

    def _handles(self, first: str, last: str) -> dict[str, str]:
        rng, handles = self.rng, {}
        f, la = _ascii(first).replace(" ", ""), _ascii(last).replace(" ", "").replace("'", "")
        for platform, share in (("reddit", 0.3), ("mastodon", 0.12), ("bluesky", 0.15), ("discourse", 0.05)):
            if rng.random() >= share:
                continue
            base = rng.choice((f"{f}_{la}", f"{f}{la[0]}", f"{la}{f[0]}", f"{f}{la}"))
            handle, n = base, 0
            while (platform, handle) in self.handles:
                n += 1
                handle = f"{base}{rng.randint(1, 9999) if n < 5 else n}"
            self.handles.add((platform, handle))
            if platform == "mastodon":
                server = rng.choice(("social", "chaos", "mastodon"))
                handles[platform] = f"@{handle}@{server}.example"
            elif platform == "bluesky":
                handles[platform] = f"{handle.replace('_', '.')}.bsky.social"
            elif platform == "reddit" and rng.random() < 0.2:
                handles[platform] = f"u/{handle}"
            else:
                handles[platform] = handle
        return handles

    def duplicate(self, original: Person, number: int) -> Person:
        """The same person entered again under a new ref: one shared e-mail, phone, or name and company."""
        rng = self.rng
        kind = rng.choice(("email", "phone", "name") if original.company else ("email", "phone"))
        if kind == "phone" and not original.phones:
            kind = "email"
        emails: tuple[str, ...] = ()
        phones: tuple[str, ...] = ()
        if kind == "email":
            emails = (original.emails[0].upper() if rng.random() < 0.3 else original.emails[0],)
        elif kind == "phone":
            phones = (_reformat_phone(rng, original.phones[0]),)
        short = f"{original.first[0]}. {original.last}"
        name = original.name if kind == "name" or rng.random() < 0.5 else short
        return Person(
            ref=f"K-{100000 + number}",
            first=original.first,
            last=original.last,
            name=name,
            company=original.company,
            emails=emails,
            phones=phones,
            segment=original.segment,
            duplicate_of=original.ref,
        )


def _digits(rng: random.Random, count: int) -> str:
    return f"{rng.randrange(10**count):0{count}d}"


def _format_phone(rng: random.Random, country: str) -> str:
    """A phone number written the way people of ``country`` write it (national or international)."""
    international = rng.random() < 0.45
    if country == "de":
        mobile = rng.random() < 0.55
        area = rng.choice(("151", "152", "160", "162", "170", "171", "176", "177")) if mobile else None
        area = area or rng.choice(("30", "40", "89", "221", "69", "711", "211", "351", "341", "911", "6221"))
        subscriber = _digits(rng, (7 if mobile else 10 - len(area)) + rng.randint(0, 1))
        if international:
            prefix = rng.choice(("+49 ", "+49 ", "0049 ", "+49 (0)"))
            return f"{prefix}{area} {subscriber}"
        if rng.random() < 0.3 and not mobile:
            return f"(0{area}) {subscriber[:3]} {subscriber[3:]}"
        return f"0{area} {subscriber}" if rng.random() < 0.7 else f"0{area}/{subscriber}"
    if country == "gb":
        area, rest = rng.choice((("20", 8), ("7700", 6), ("161", 7), ("131", 7)))
        subscriber = _digits(rng, rest)
        return f"+44 {area} {subscriber[:4]} {subscriber[4:]}" if international else f"0{area} {subscriber}"
    if country == "us":
        area, subscriber = rng.choice(("212", "415", "617", "312")), _digits(rng, 7)
        return (
            f"+1 {area} {subscriber[:3]} {subscriber[3:]}"
            if international
            else f"({area}) {subscriber[:3]}-{subscriber[3:]}"
        )
    if country == "at":
        return f"+43 1 {_digits(rng, 7)}" if international else f"01 {_digits(rng, 7)}"
    return f"+41 44 {_digits(rng, 3)} {_digits(rng, 2)} {_digits(rng, 2)}"


def _reformat_phone(rng: random.Random, number: str) -> str:
    """The same number in another spelling (``+49 170 1234567`` <-> ``0170 1234567``)."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if number.startswith("+49") or number.startswith("0049"):
        national = digits[4:] if number.startswith("0049") else digits[2:]
        national = national[1:] if national.startswith("0") else national
        return f"0{national[:3]} {national[3:]}"
    if number.startswith("0") and not number.startswith("00"):
        return f"+49 {digits[1:4]} {digits[4:]}"
    return " ".join(digits[i : i + 3] for i in range(0, len(digits), 3)) if rng.random() < 0.5 else number


def generate_people(count: int, *, seed: int = 16, duplicate_share: float = 0.01) -> list[Person]:
    """``count`` customers with refs K-100000..; about ``duplicate_share`` of them re-enter an earlier one."""
    generator = _Generator(seed, count)
    people: list[Person] = []
    originals: list[Person] = []
    for number in range(count):
        if originals and generator.rng.random() < duplicate_share:
            people.append(generator.duplicate(generator.rng.choice(originals), number))
        else:
            people.append(generator.person(number))
            originals.append(people[-1])
    return people


def generate_orders(people: Sequence[Person], count: int, *, seed: int = 17) -> list[OrderLine]:
    """``count`` orders of the given customers (long-tailed: some buy often), a fifth with several line items."""
    rng = random.Random(seed)
    if not people:
        return []
    buyers = [p.ref for p in people]
    rng.shuffle(buyers)  # who buys often is unrelated to the ref
    weights = _weights(len(buyers), 0.5)
    start = date(2024, 1, 1)
    lines = []
    for number in range(count):
        ref = rng.choices(buyers, cum_weights=weights)[0]
        order = f"A-{1_000_000 + number}" if rng.random() < 0.8 else str(700_000 + number)
        when = start + timedelta(days=rng.randint(0, 900))
        status, german_date = rng.choice(STATUSES), rng.random() < 0.3
        items = 1 if rng.random() < 0.8 else rng.randint(2, 3)
        for product in rng.sample(PRODUCTS, items):
            lines.append(OrderLine(order, ref, when, product, status, german_date))
    return lines


def customers_csv(people: Sequence[Person], *, delimiter: str = ",") -> bytes:
    """The people as a UTF-8 CSV in the import's default columns (several e-mails or phones joined by ';')."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(HEADER)
    for p in people:
        handles = [p.handles.get(platform, "") for platform in HEADER[6:12]]
        consent = "" if p.consent_marketing is None else ("ja" if p.consent_marketing else "nein")
        row = [p.ref, p.name, ";".join(p.emails), ";".join(p.phones), p.company or "", p.segment, *handles]
        writer.writerow([*row, ";".join(p.tags), consent])
    return out.getvalue().encode("utf-8")


def orders_csv(lines: Sequence[OrderLine], *, delimiter: str = ",") -> bytes:
    """The order lines as a UTF-8 CSV in the import's default columns (dates ISO or German)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(ORDER_HEADER)
    for line in lines:
        when = line.ordered.strftime("%d.%m.%Y") if line.german_date else line.ordered.isoformat()
        writer.writerow([line.number, line.ref, when, line.product, line.status])
    return out.getvalue().encode("utf-8")


__all__ = [
    "OrderLine",
    "Person",
    "customers_csv",
    "generate_orders",
    "generate_people",
    "orders_csv",
]
