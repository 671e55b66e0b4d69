"""A small shop schema, written the same way on SQLite, PostgreSQL and MariaDB, filled with made-up people.

Declared foreign keys are optional (`fks`), so discovery can be tried with and without them. The people are
generated with fixed seeds (Faker), so failures are reproducible.
"""

from __future__ import annotations

import random

import sqlalchemy as sa
from faker import Faker
from stdnum import iban as iban_mod

# personal-data columns a reader of this schema would list (table, column) -> category family
TRUTH = {
    ("customers", "email"): "user.contact.email",
    ("customers", "full_name"): "user.name",
    ("customers", "phone"): "user.contact.phone_number",
    ("customers", "birth_date"): "user.demographic.date_of_birth",
    ("addresses", "street"): "user.contact.address",
    ("addresses", "city"): "user.contact.address",
    ("addresses", "zip"): "user.contact.address",
    ("payment_cards", "ccn"): "user.financial.credit_card",
    ("payment_cards", "iban"): "user.financial.bank_account",
    ("sessions", "ip"): "user.device.ip_address",
    ("notes", "body"): "user.content.private",
    ("newsletter", "subscriber_email"): "user.contact.email",
}
REFERENCES = {
    ("addresses", "customer_id", "customers", "id"),
    ("orders", "customer_id", "customers", "id"),
    ("payment_cards", "customer_id", "customers", "id"),
    ("sessions", "customer_id", "customers", "id"),
    ("notes", "order_id", "orders", "id"),
}


def _card(rng: random.Random) -> str:
    digits = [4] + [rng.randrange(10) for _ in range(14)]
    total = 0
    for i, dgt in enumerate(reversed(digits)):  # Luhn: the check digit makes the sum a multiple of 10
        v = dgt * 2 if i % 2 == 0 else dgt
        total += v - 9 if v > 9 else v
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def build(url: str, *, fks: bool = True, customers: int = 60) -> None:
    fake = Faker("en_US")
    fake.seed_instance(7)
    rng = random.Random(7)
    meta = sa.MetaData()

    def fk(target: str) -> list[sa.ForeignKey]:
        return [sa.ForeignKey(target)] if fks else []

    c = sa.Table(
        "customers",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(120), nullable=False),
        sa.Column("full_name", sa.String(80)),
        sa.Column("phone", sa.String(30)),
        sa.Column("birth_date", sa.Date),
        sa.Column("password_hash", sa.String(100)),
        sa.Column("created_at", sa.DateTime),
    )
    a = sa.Table(
        "addresses",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, *fk("customers.id"), index=True),
        sa.Column("street", sa.String(100)),
        sa.Column("city", sa.String(60)),
        sa.Column("zip", sa.String(12)),
    )
    o = sa.Table(
        "orders",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, *fk("customers.id"), index=True),
        sa.Column("total", sa.Numeric(10, 2)),
        sa.Column("status", sa.String(20)),
    )
    p = sa.Table(
        "payment_cards",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, *fk("customers.id"), index=True),
        sa.Column("ccn", sa.String(19)),
        sa.Column("iban", sa.String(34)),
    )
    s = sa.Table(
        "sessions",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, *fk("customers.id"), index=True),
        sa.Column("ip", sa.String(45)),
    )
    n = sa.Table(
        "notes",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.Integer, *fk("orders.id"), index=True),
        sa.Column("body", sa.Text),
    )
    products = sa.Table(
        "products",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(80)),
        sa.Column("price", sa.Numeric(10, 2)),
    )
    newsletter = sa.Table(
        "newsletter",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subscriber_email", sa.String(120)),
        sa.Column("signed_up", sa.DateTime),
    )
    engine = sa.create_engine(url)
    meta.create_all(engine)
    countries = ["DE", "GB"]
    with engine.begin() as conn:
        conn.execute(
            c.insert(),
            [
                {
                    "id": i,
                    "email": fake.unique.email(),
                    "full_name": fake.name(),
                    "phone": fake.phone_number(),
                    "birth_date": fake.date_of_birth(minimum_age=18, maximum_age=90),
                    "password_hash": fake.sha256(),
                    "created_at": fake.date_time_this_decade(),
                }
                for i in range(1, customers + 1)
            ],
        )
        conn.execute(
            a.insert(),
            [
                {
                    "id": i,
                    "customer_id": i,
                    "street": fake.street_address(),
                    "city": fake.city(),
                    "zip": fake.postcode(),
                }
                for i in range(1, customers + 1)
            ],
        )
        conn.execute(
            o.insert(),
            [
                {
                    "id": i,
                    "customer_id": rng.randint(1, customers),
                    "total": rng.randint(1, 900),
                    "status": rng.choice(["paid", "shipped", "delivered"]),
                }
                for i in range(1, 2 * customers + 1)
            ],
        )
        conn.execute(
            p.insert(),
            [
                {
                    "id": i,
                    "customer_id": i,
                    "ccn": _card(rng),
                    "iban": iban_mod.format(_iban(rng, rng.choice(countries))).replace(" ", ""),
                }
                for i in range(1, customers + 1)
            ],
        )
        conn.execute(
            s.insert(),
            [
                {"id": i, "customer_id": rng.randint(1, customers), "ip": fake.ipv4() if i % 3 else fake.ipv6()}
                for i in range(1, 2 * customers + 1)
            ],
        )
        conn.execute(
            n.insert(),
            [
                {
                    "id": i,
                    "order_id": rng.randint(1, 2 * customers),
                    "body": f"Please call me back on {fake.phone_number()} or write to {fake.email()}, thanks."
                    if i % 2
                    else "Leave the parcel with the neighbour if nobody is home.",
                }
                for i in range(1, customers + 1)
            ],
        )
        conn.execute(
            products.insert(),
            [{"id": i, "title": fake.catch_phrase(), "price": rng.randint(1, 90)} for i in range(1, 40)],
        )
        conn.execute(
            newsletter.insert(),
            [
                {"id": i, "subscriber_email": fake.email(), "signed_up": fake.date_time_this_decade()}
                for i in range(1, 30)
            ],
        )
    engine.dispose()


def _iban(rng: random.Random, country: str) -> str:
    """A valid IBAN: a made-up account number with the check digits computed (ISO 13616 mod 97)."""
    lengths = {"DE": 18, "NL": 14, "FR": 23, "GB": 18, "ES": 20}
    if country == "NL":
        bban = "ABNA" + "".join(str(rng.randrange(10)) for _ in range(10))
    elif country == "GB":
        bban = "NWBK" + "".join(str(rng.randrange(10)) for _ in range(14))
    else:
        bban = "".join(str(rng.randrange(10)) for _ in range(lengths[country]))
    check = iban_mod.calc_check_digits(country + "00" + bban)
    return country + check + bban
