"""Deterministic demo data: a shop and a support desk as two SQLite files, plus their data map.

jane.doe@example.com has rows in every personal collection so the demo always yields a full archive;
look-alike addresses exist so that a matching bug shows up as foreign rows in her archive.
"""

from __future__ import annotations

import base64
import os
import random
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from faker import Faker

from dsar.demo import stripe

SUBJECT_EMAIL = "jane.doe@example.com"
LOOKALIKE_EMAILS = ("jane.doe@example.org", "jane.doe2@example.com", "xjane.doe@example.com")
LOOKALIKE_TICKET_EMAIL = "jane.doe@example.co"
FORMAT_VERSION = "1"
MARKER_TABLE = "demo_meta"
EPOCH = datetime(2020, 1, 1)
NOW = datetime(2026, 11, 1)  # the demo's "today": fixed so that the data never depends on the clock
SPAN = int((NOW - EPOCH).total_seconds())
DAY = 86_400
Row = tuple[Any, ...]
Payment = tuple[str, str | None, str | None]  # method, card brand, last four digits

SHOP_SCHEMA = """
CREATE TABLE categories (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL);
CREATE TABLE products (
  id INTEGER PRIMARY KEY, category_id INTEGER NOT NULL REFERENCES categories(id),
  name VARCHAR(200) NOT NULL, price NUMERIC(12, 2) NOT NULL);
CREATE TABLE customers (
  id INTEGER PRIMARY KEY, email VARCHAR(254) NOT NULL, first_name VARCHAR(100) NOT NULL,
  last_name VARCHAR(100) NOT NULL, phone VARCHAR(40), birth_date DATE, created_at DATETIME NOT NULL,
  password_hash VARCHAR(255) NOT NULL);
CREATE TABLE addresses (
  id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
  kind VARCHAR(16) NOT NULL CHECK (kind IN ('shipping', 'billing')), street VARCHAR(200) NOT NULL,
  city VARCHAR(100) NOT NULL, postal_code VARCHAR(20) NOT NULL, country CHAR(2) NOT NULL);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
  status VARCHAR(16) NOT NULL
    CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'returned')),
  placed_at DATETIME NOT NULL, total_amount NUMERIC(12, 2) NOT NULL, currency CHAR(3) NOT NULL,
  shipping_address_id INTEGER REFERENCES addresses(id));
CREATE TABLE order_items (
  id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id),
  product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL,
  unit_price NUMERIC(12, 2) NOT NULL);
CREATE TABLE payments (
  id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id), method VARCHAR(20) NOT NULL,
  card_brand VARCHAR(20), card_last4 CHAR(4), amount NUMERIC(12, 2) NOT NULL, paid_at DATETIME NOT NULL);
CREATE TABLE product_reviews (
  id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
  product_id INTEGER NOT NULL REFERENCES products(id), rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
  title VARCHAR(200) NOT NULL, body TEXT NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE login_events (
  id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
  ip_address VARCHAR(45) NOT NULL, user_agent VARCHAR(512) NOT NULL, occurred_at DATETIME NOT NULL);
CREATE TABLE marketing_consents (
  id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
  channel VARCHAR(10) NOT NULL CHECK (channel IN ('email', 'sms')), granted BOOLEAN NOT NULL,
  changed_at DATETIME NOT NULL, source VARCHAR(40) NOT NULL);
"""
SHOP_INDEXES = """
CREATE UNIQUE INDEX ix_customers_email_normalized ON customers (lower(trim(email)));
CREATE INDEX ix_products_category_id ON products (category_id);
CREATE INDEX ix_addresses_customer_id ON addresses (customer_id);
CREATE INDEX ix_orders_customer_id ON orders (customer_id);
CREATE INDEX ix_orders_shipping_address_id ON orders (shipping_address_id);
CREATE INDEX ix_order_items_order_id ON order_items (order_id);
CREATE INDEX ix_order_items_product_id ON order_items (product_id);
CREATE INDEX ix_payments_order_id ON payments (order_id);
CREATE INDEX ix_product_reviews_customer_id ON product_reviews (customer_id);
CREATE INDEX ix_product_reviews_product_id ON product_reviews (product_id);
CREATE INDEX ix_login_events_customer_id ON login_events (customer_id);
CREATE INDEX ix_marketing_consents_customer_id ON marketing_consents (customer_id);
"""
SUPPORT_SCHEMA = """
CREATE TABLE tickets (
  id INTEGER PRIMARY KEY, requester_email VARCHAR(254) NOT NULL, subject VARCHAR(200) NOT NULL,
  status VARCHAR(16) NOT NULL CHECK (status IN ('open', 'pending', 'solved', 'closed')),
  created_at DATETIME NOT NULL);
CREATE TABLE messages (
  id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL REFERENCES tickets(id),
  author VARCHAR(10) NOT NULL CHECK (author IN ('customer', 'agent')), body TEXT NOT NULL,
  sent_at DATETIME NOT NULL);
"""
SUPPORT_INDEXES = """
CREATE INDEX ix_tickets_requester_email_normalized ON tickets (lower(trim(requester_email)));
CREATE INDEX ix_messages_ticket_id ON messages (ticket_id);
"""
SHOP_TABLES = (
    "categories",
    "products",
    "customers",
    "addresses",
    "orders",
    "order_items",
    "payments",
    "product_reviews",
    "login_events",
    "marketing_consents",
)

CATALOGUE = {
    "Kitchen": ["Chef's Knife", "Cutting Board", "Saucepan", "Coffee Grinder", "Tea Kettle"],
    "Outdoor": ["Tent", "Sleeping Bag", "Headlamp", "Water Bottle", "Trekking Poles"],
    "Electronics": ["Bluetooth Speaker", "USB-C Charger", "Headphones", "Power Bank", "Webcam"],
    "Books": ["Cookbook", "Travel Guide", "Novel", "Field Guide", "Photo Book"],
    "Home": ["Throw Blanket", "Table Lamp", "Wall Clock", "Storage Box", "Scented Candle"],
    "Garden": ["Pruning Shears", "Watering Can", "Planter", "Garden Gloves", "Hose Reel"],
    "Sports": ["Yoga Mat", "Jump Rope", "Dumbbell Set", "Running Belt", "Tennis Racket"],
    "Toys": ["Puzzle", "Building Blocks", "Plush Bear", "Board Game", "Kite"],
    "Beauty": ["Face Cream", "Hair Brush", "Lip Balm", "Shampoo", "Nail Kit"],
    "Office": ["Notebook", "Fountain Pen", "Desk Organizer", "Stapler", "Monitor Stand"],
    "Pets": ["Dog Leash", "Cat Tree", "Pet Bed", "Chew Toy", "Food Bowl"],
    "Fashion": ["Scarf", "Leather Belt", "Backpack", "Sunglasses", "Wool Hat"],
}
ADJECTIVES = ["Classic", "Compact", "Deluxe", "Eco", "Essential", "Premium", "Rugged", "Smart", "Vintage"]
CONSENT_SOURCES = ("checkout", "account_settings", "newsletter_form", "support")
DOMAINS = ("example.com", "example.net", "example.org")
SUBJECTS = [
    "Where is my order?",
    "Refund for a damaged item",
    "Cannot log in to my account",
    "Change my delivery address",
    "Invoice request",
    "Question about a product",
    "Wrong item received",
    "Cancel my order",
    "Discount code does not work",
    "Please update my e-mail preferences",
    "Return label request",
    "Payment charged twice",
]
AGENT_REPLIES = [
    "thanks for reaching out. I have looked into this for you.",
    "sorry for the trouble. A replacement is on its way.",
    "I have issued a refund; it should appear within 5 business days.",
    "could you send us a photo of the item, please?",
    "your request has been completed. Is there anything else we can help with?",
]


@dataclass(frozen=True)
class DemoInfo:
    """Where the demo lives and whom to ask about; `built` is False when an existing demo was reused."""

    directory: Path
    shop: Path
    support: Path
    datamap: Path
    seed: int
    customers: int
    built: bool
    subject_email: str = SUBJECT_EMAIL

    @property
    def env(self) -> dict[str, str]:
        """The variables the demo data map refers to."""
        return {"DSAR_DEMO_DIR": str(self.directory)}


def packaged_datamap() -> str:
    """The demo data map as shipped; its source URLs point next to the file (`${DATAMAP_DIR}`)."""
    return resources.files("dsar.demo").joinpath("datamap.yaml").read_text(encoding="utf-8")


Progress = Callable[[str, int, int], None]  # (step, done, total): how far a long build is


def _no_progress(_step: str, _done: int, _total: int) -> None:
    pass


def build_demo(
    directory: Path,
    customers: int = 10_000,
    seed: int = 20261123,
    progress: Progress = _no_progress,
    env: Mapping[str, str] | None = None,
) -> DemoInfo:
    """Create (or reuse, when complete and built with the same settings) the demo databases and data map;
    `progress` hears of each step of a build (customers made, tables written). With DSAR_DEMO_STRIPE_URL and
    DSAR_DEMO_STRIPE_KEY in `env`, the data map gains Stripe and the subject a Stripe customer (dsar.demo.stripe)."""
    if customers < 1 + len(LOOKALIKE_EMAILS):
        raise ValueError(f"customers must be at least {1 + len(LOOKALIKE_EMAILS)}")
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    shop, support = directory / "shop.sqlite", directory / "support.sqlite"
    meta = {"format": FORMAT_VERSION, "seed": str(seed), "customers": str(customers)}
    built = not (_complete(shop, meta) and _complete(support, meta))
    if built:
        demo = _Demo(seed, customers, progress)
        tmp_shop, tmp_support = _tmp(shop), _tmp(support)
        try:
            progress("writing shop.sqlite", 0, 2)
            _write_db(tmp_shop, SHOP_SCHEMA, SHOP_INDEXES, demo.shop, meta)
            progress("writing support.sqlite", 1, 2)
            _write_db(tmp_support, SUPPORT_SCHEMA, SUPPORT_INDEXES, demo.support, meta)
            progress("written", 2, 2)
            os.replace(tmp_shop, shop)
            os.replace(tmp_support, support)
        finally:
            tmp_shop.unlink(missing_ok=True)
            tmp_support.unlink(missing_ok=True)
    datamap = directory / "datamap.yaml"
    text = packaged_datamap()
    if env is not None and stripe.configured(env):
        text = stripe.with_stripe(text)
        try:
            stripe.seed(env[stripe.URL_ENV], env[stripe.KEY_ENV], SUBJECT_EMAIL, "Jane Doe")
        except httpx.HTTPError as exc:
            raise RuntimeError(
                f"{stripe.URL_ENV} is set, but the Stripe API there did not answer ({type(exc).__name__}); "
                "start it or unset the variable"
            ) from None
    if not datamap.is_file() or datamap.read_text(encoding="utf-8") != text:
        tmp = _tmp(datamap)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, datamap)
    return DemoInfo(directory, shop, support, datamap, seed, customers, built)


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _complete(path: Path, meta: dict[str, str]) -> bool:
    """True when the file holds a finished build with these settings (the marker is written last)."""
    if not path.is_file():
        return False
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            found = dict(con.execute(f"SELECT key, value FROM {MARKER_TABLE}").fetchall())
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return all(found.get(k) == v for k, v in meta.items())


def _write_db(path: Path, schema: str, indexes: str, tables: dict[str, list[Row]], meta: dict[str, str]) -> None:
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode = OFF")  # a temporary file: a crash just means "build again"
        con.execute("PRAGMA synchronous = OFF")
        con.executescript(schema)
        for table, rows in tables.items():
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                with con:
                    con.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        con.executescript(indexes)
        with con:
            con.execute(f"CREATE TABLE {MARKER_TABLE} (key VARCHAR(40) PRIMARY KEY, value TEXT NOT NULL)")
            con.executemany(f"INSERT INTO {MARKER_TABLE} VALUES (?, ?)", sorted(meta.items()))
    finally:
        con.close()
    with path.open("rb") as fh:  # on disk before the rename makes it visible
        os.fsync(fh.fileno())


def _ts(seconds: int) -> str:
    return (EPOCH + timedelta(seconds=min(seconds, SPAN))).isoformat(" ")


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _pool(n: int, make: Callable[[], object]) -> list[str]:
    return [str(make()) for _ in range(n)]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


class _Demo:
    """Every row of both sources, built in memory in a fixed order from one seeded RNG and one Faker."""

    def __init__(self, seed: int, customers: int, progress: Progress = _no_progress) -> None:
        self.rng = random.Random(seed)
        self.fake = fake = Faker("en_US")
        fake.seed_instance(seed)
        # Faker is slow per call: draw pools once, then pick from them with the seeded RNG.
        self.first, self.last = _pool(800, fake.first_name), _pool(800, fake.last_name)
        self.streets, self.cities = _pool(3000, fake.street_address), _pool(600, fake.city)
        self.postcodes, self.ips = _pool(3000, fake.postcode), _pool(4000, fake.ipv4_public)
        self.agents, self.texts = _pool(300, fake.user_agent), _pool(1500, fake.paragraph)
        self.titles = _pool(400, lambda: fake.sentence(nb_words=5).rstrip("."))
        self.shop: dict[str, list[Row]] = {t: [] for t in SHOP_TABLES}
        self.support: dict[str, list[Row]] = {"tickets": [], "messages": []}
        self.prices: list[int] = [0]
        self._catalogue()
        self._jane()
        for email in LOOKALIKE_EMAILS:
            self._customer(email=email, first="Jane", last="Doe", full=True)
        for n in range(customers - 1 - len(LOOKALIKE_EMAILS)):
            if n % 250 == 0:
                progress("customers", n + 1 + len(LOOKALIKE_EMAILS), customers)
            self._customer()
        progress("customers", customers, customers)
        for n in range(customers // 25):
            first, last = self.rng.choice(self.first), self.rng.choice(self.last)
            email = f"{_slug(first)}.{_slug(last)}.guest{n + 1}@{self.rng.choice(DOMAINS)}"
            self._ticket(email, first, self.rng.randrange(SPAN - 30 * DAY))

    def _add(self, table: str, *values: Any) -> int:
        rows = self.shop[table] if table in self.shop else self.support[table]
        rows.append((len(rows) + 1, *values))
        return len(rows)

    def _catalogue(self) -> None:
        r = self.rng
        for category, nouns in CATALOGUE.items():
            cid = self._add("categories", category)
            for noun in nouns * 4:
                cents = r.randrange(4, 300) * 100 + r.choice((0, 49, 99))
                self._add("products", cid, f"{r.choice(ADJECTIVES)} {noun}", _money(cents))
                self.prices.append(cents)

    def _order(
        self,
        cid: int,
        placed: int,
        ship: int,
        status: str | None = None,
        items: list[tuple[int, int]] | None = None,
        method: Payment | None = None,
    ) -> tuple[str, list[int]]:
        """One order with its items and (unless pending or cancelled) its payment; random where not given."""
        r = self.rng
        if status is None:
            age = SPAN - placed
            if age < 2 * DAY:
                status = r.choice(("pending", "paid"))
            elif age < 8 * DAY:
                status = r.choice(("paid", "shipped", "shipped"))
            else:
                status = r.choices(("delivered", "cancelled", "returned"), (90, 5, 5))[0]
        if items is None:
            products = r.sample(range(1, len(self.prices)), r.randint(1, 4))
            items = [(p, r.choices((1, 2, 3), (75, 18, 7))[0]) for p in products]
        total = sum(self.prices[p] * q for p, q in items)
        oid = self._add("orders", cid, status, _ts(placed), _money(total), "USD", ship)
        for product, quantity in items:
            self._add("order_items", oid, product, quantity, _money(self.prices[product]))
        if status not in ("pending", "cancelled"):
            if method is None:
                kind = r.choices(("card", "paypal", "gift_card", "bank_transfer"), (70, 20, 5, 5))[0]
                brand = r.choice(("visa", "mastercard", "amex", "discover")) if kind == "card" else None
                method = (kind, brand, f"{r.randrange(10_000):04d}" if brand else None)
            self._add("payments", oid, *method, _money(total), _ts(placed + r.randint(5, 600)))
        return status, [p for p, _ in items]

    def _customer(
        self, email: str | None = None, first: str | None = None, last: str | None = None, full: bool = False
    ) -> None:
        """A random customer; `full` guarantees rows in every collection (for the look-alikes)."""
        r = self.rng
        cid = len(self.shop["customers"]) + 1
        first, last = first or r.choice(self.first), last or r.choice(self.last)
        email = email or f"{_slug(first)}.{_slug(last)}{cid}@{r.choice(DOMAINS)}"
        created = r.randrange(SPAN - 30 * DAY)
        birth = (EPOCH - timedelta(days=r.randrange(18 * 365, 80 * 365))).date().isoformat()
        salt, digest = (base64.b64encode(r.randbytes(n)).decode().rstrip("=") for n in (16, 32))
        self._add(
            "customers",
            email,
            first,
            last,
            str(self.fake.phone_number()),
            birth,
            _ts(created),
            f"$argon2id$v=19$m=65536,t=3,p=4${salt}${digest}",
        )
        ship = self._address(cid, "shipping")
        if r.random() < 0.4:
            self._address(cid, "billing")
        n_orders = r.choices(range(8), (8, 20, 24, 20, 12, 8, 5, 3))[0]
        bought: list[tuple[int, int]] = []
        for placed in sorted(r.randrange(created, SPAN) for _ in range(max(n_orders, 2 if full else 0))):
            status, products = self._order(cid, placed, ship)
            if status == "delivered" or full:
                bought.extend((p, placed) for p in products)
        if bought and (full or r.random() < 0.3):
            for product, placed in r.sample(bought, min(len(bought), r.randint(1, 2))):
                rating = r.choices((1, 2, 3, 4, 5), (5, 7, 15, 33, 40))[0]
                self._add(
                    "product_reviews",
                    cid,
                    product,
                    rating,
                    r.choice(self.titles),
                    r.choice(self.texts),
                    _ts(placed + r.randint(3 * DAY, 30 * DAY)),
                )
        ips = r.sample(self.ips, r.randint(1, 3))
        for at in sorted(r.randrange(created, SPAN) for _ in range(r.randint(1 if full else 0, 9))):
            self._add("login_events", cid, r.choice(ips), r.choice(self.agents), _ts(at))
        for channel, chance in (("email", 0.55), ("sms", 0.2)):
            self._add(
                "marketing_consents",
                cid,
                channel,
                r.random() < chance,
                _ts(r.randrange(created, SPAN)),
                r.choice(CONSENT_SOURCES),
            )
        if full or r.random() < 0.22:
            for _ in range(r.randint(1, 2)):
                variant = r.random()
                shown = (
                    email.capitalize()
                    if variant < 0.05
                    else f" {email} "
                    if variant < 0.08
                    else email.upper()
                    if variant < 0.1
                    else email
                )
                self._ticket(shown, first, r.randrange(created, SPAN))

    def _address(self, cid: int, kind: str) -> int:
        r = self.rng
        return self._add(
            "addresses", cid, kind, r.choice(self.streets), r.choice(self.cities), r.choice(self.postcodes), "US"
        )

    def _ticket(self, email: str, first: str, created: int) -> None:
        r = self.rng
        recent = SPAN - created < 7 * DAY
        status = r.choice(("open", "pending")) if recent else r.choices(("solved", "closed"), (3, 7))[0]
        tid = self._add("tickets", email, r.choice(SUBJECTS), status, _ts(created))
        at = created
        for i in range(r.randint(1, 5)):
            body = r.choice(self.texts) if i % 2 == 0 else f"Hi {first}, {r.choice(AGENT_REPLIES)}"
            self._add("messages", tid, "customer" if i % 2 == 0 else "agent", body, _ts(at))
            at += r.randint(600, 2 * DAY)

    def _jane(self) -> None:
        """The demo subject, written by hand so that the demo (and its tests) can point at her rows."""
        self._add(
            "customers",
            SUBJECT_EMAIL,
            "Jane",
            "Doe",
            "+1-202-555-0143",
            "1988-04-12",
            "2022-03-14 09:26:53",
            "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHlzYWx0eQ$H4ZdhJSbWoOGKf8q3oH2TvOXb4gtx9VpUjGxW5TmbHE",
        )
        ship = self._add("addresses", 1, "shipping", "1600 Example Avenue Apt 4B", "Springfield", "62704", "US")
        self._add("addresses", 1, "billing", "500 Market Street", "Springfield", "62701", "US")
        at = int((datetime(2023, 5, 2, 18, 4, 11) - EPOCH).total_seconds())
        for days, status, items, method in (
            (0, "delivered", [(12, 1), (57, 2)], ("card", "visa", "4242")),
            (577, "delivered", [(101, 1)], ("paypal", None, None)),
            (838, "returned", [(33, 1)], ("card", "visa", "4242")),
            (1275, "shipped", [(5, 1), (140, 3), (200, 1)], ("card", "mastercard", "5454")),
        ):
            self._order(1, at + days * DAY, ship, status, items, method)
        self._add(
            "product_reviews",
            1,
            12,
            5,
            '=HYPERLINK("http://x","click")',
            "Sharp, well balanced and it arrived a day early. Would buy again.",
            "2023-05-09 20:11:02",
        )
        self._add(
            "product_reviews",
            1,
            101,
            3,
            "Good, but the strap broke after a month",
            "Works as described. The strap feels cheap & wore through quickly.",
            "2025-01-04 08:30:19",
        )
        for n, when in enumerate(
            (
                "2022-03-14 09:25:40",
                "2023-05-02 17:58:03",
                "2024-11-29 07:41:12",
                "2025-08-17 12:02:55",
                "2026-10-28 20:09:31",
                "2026-10-30 07:55:00",
            )
        ):
            self._add(
                "login_events", 1, f"203.0.113.{17 + n % 2}" if n % 3 else "198.51.100.42", self.agents[n % 2], when
            )
        self._add("marketing_consents", 1, "email", True, "2022-03-14 09:26:53", "checkout")
        self._add("marketing_consents", 1, "sms", False, "2024-01-09 16:45:00", "account_settings")
        for email, subject, status, created, bodies in (
            (
                "  Jane.Doe@Example.COM ",
                "Where is my order?",
                "open",
                "2026-10-30 08:02:17",
                [
                    "My order was shipped on Oct 28 but the tracking page shows this: "
                    "<script>alert(1)</script> - is the link broken?",
                    "Hi Jane, sorry about that. Your parcel is with the carrier and should arrive on Monday.",
                ],
            ),
            (
                SUBJECT_EMAIL,
                "Return label request",
                "solved",
                "2025-08-18 10:15:44",
                [
                    "Hello, the item from order #3 does not fit. Could you send me a return label?",
                    "Hi Jane, thanks for reaching out. The label is attached; the refund follows on receipt.",
                    "Thanks, parcel dropped off today.",
                ],
            ),
            (
                LOOKALIKE_TICKET_EMAIL,
                "Invoice request",
                "closed",
                "2024-02-02 14:00:00",
                ["Please send me an invoice for my last purchase. - Janet Doe"],
            ),
        ):
            tid = self._add("tickets", email, subject, status, created)
            start = datetime.fromisoformat(created)
            for i, body in enumerate(bodies):
                sent = (start + timedelta(hours=5 * i)).isoformat(" ")
                self._add("messages", tid, "customer" if i % 2 == 0 else "agent", body, sent)
