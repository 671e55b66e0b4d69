"""The detectors on values: checksums and patterns accept real shapes and refuse look-alikes."""

from __future__ import annotations

from dsar.discovery import detectors as d
from dsar.discovery.references import common_prefix


def test_values_and_their_look_alikes() -> None:
    assert d.is_email("jane.doe@example.org") and not d.is_email("jane.doe@") and not d.is_email("a@b")
    assert d.is_phone("+49 30 1234567") and d.is_phone("(212) 555-0142")
    assert not d.is_phone("2024-01-31") and not d.is_phone("12345678")  # a date, a bare run of digits
    assert d.is_card("4111 1111 1111 1111") and not d.is_card("4111 1111 1111 1112")  # Luhn
    assert d.is_iban("DE89370400440532013000") and not d.is_iban("DE89370400440532013001")
    assert d.is_national_id("536-90-4399") and not d.is_national_id("000-12-3456")  # SSN area 000 is never issued
    assert d.is_ip("192.168.1.20") and d.is_ip("2001:db8::1") and not d.is_ip("1.2.3") and not d.is_ip("v1.2.3.4")
    assert d.is_person_name("Luís Gonçalves") and d.is_person_name("O'Neil") and not d.is_person_name("SKU-12")


def test_free_text_with_contact_details() -> None:
    assert d.pd_in_text("write to jane@example.org please") == "an e-mail address"
    assert d.pd_in_text("call me on +44 20 7946 0958 tomorrow") == "a phone number"
    agent = "Mozilla/5.0 (X11; Linux x86_64; rv:1.9.5.20) Gecko/9209-08-21 00:32:37.650818 Firefox/3.6.6"
    assert d.pd_in_text(agent) is None


def test_classify_uses_values_over_names() -> None:
    emails = [f"user{i}@example.org" for i in range(20)]
    [found] = d.classify("contact", "signups", emails, text=True, temporal=False, personal_table=False)
    assert found.category == d.EMAIL and found.certain and "20 of 20" in found.evidence
    assert "@" not in found.evidence
    # a name hint whose values disagree is a guess for review, not a certainty
    [guess] = d.classify("email", "t", ["n/a"] * 10, text=True, temporal=False, personal_table=False)
    assert guess.category == d.EMAIL and not guess.certain
    # `name` is a person's only in a personal table
    assert d.classify("name", "products", ["Blue Mug"] * 5, text=True, temporal=False, personal_table=False) == []
    people = ["Ann Lee", "Bo Chen", "Cem Kaya", "Dee Roy", "Eva Lund"]
    [person] = d.classify("name", "customers", people, text=True, temporal=False, personal_table=False)
    assert person.category == d.NAME and person.certain
    # one value in every sampled row is a label ("Monthly Report"), not people's names: for review only
    [label] = d.classify("name", "report", ["Monthly Report"] * 4, text=True, temporal=False, personal_table=True)
    assert label.category == d.NAME and label.confidence < 0.6 and "all 4 sampled values are the same" in label.evidence
    [first] = d.classify("first_name", "users", ["Ann"] * 4, text=True, temporal=False, personal_table=True)
    assert first.certain  # a column named for people's names keeps its name
    # a key column is a reference, not the data it names
    assert d.classify("shipping_address_id", "orders", [1, 2], text=False, temporal=False, personal_table=True) == []
    [secret] = d.classify("password_hash", "users", ["x" * 60], text=True, temporal=False, personal_table=True)
    assert secret.category == d.CREDENTIALS


def test_birth_dates_and_families() -> None:
    assert d.plausible_birth_dates(["1980-02-03", "1955-12-01"])
    assert not d.plausible_birth_dates(["2099-01-01"])
    assert d.family("user.contact.address.city") == d.ADDRESS
    assert common_prefix(["chinook_album", "chinook_track", "chinook_genre"]) == "chinook_"


def test_logs_of_activity() -> None:
    for table in ("login", "logins", "user_sessions", "visit", "page_views", "login_events", "audit_log"):
        assert d.activity_table(table), table
    for table in ("orders", "products", "events", "blog_posts", "catalog"):
        assert not d.activity_table(table), table
    assert d.activity_time("login", "time").category == d.BEHAVIOR


def test_what_firebirds_employee_schema_showed() -> None:
    """Faults Firebird's EMPLOYEE sample showed (bench.discovery), as rules that hold anywhere."""
    from decimal import Decimal

    def best(column: str, table: str, values: list[object], *, text: bool = True) -> str | None:
        found = d.classify(column, table, values, text=text, temporal=False, personal_table=True)
        return found[0].category if found else None

    # a number stored as a number is no phone number, however its digits look
    salaries = [Decimal("98000.00"), Decimal("6000000.00"), Decimal("62000.00"), Decimal("27000.00")]
    assert best("salary", "employee", salaries, text=False) is None
    # `_no` after a phone word is a number to call, not a key; national formats without a country code
    [phone] = d.classify(
        "phone_no",
        "customer",
        ["(619) 530-2710", "61 211 99 88", "3 880 77 19", "02 404 6284"],
        text=True,
        temporal=False,
        personal_table=True,
    )
    assert phone.category == d.PHONE and 0.6 <= phone.confidence < 0.8
    assert best("contact_first", "customer", ["Dale J.", "Glen", "James", "Elizabeth"]) == d.NAME
    # an address word after another word: whose address it is (billing_, home_) or something else's (job_)
    assert best("job_country", "employee", ["USA", "Japan", "England"]) is None
    assert best("billing_city", "invoice", ["Oslo", "Prague", "Delhi"]) == "user.contact.address.city"
    assert best("state_province", "customer", ["CA", "TX", "MA"]) == "user.contact.address.state"
    assert best("ship_country", "orders", ["France", "Germany"]) == "user.contact.address.country"


def test_role_names_without_an_id_suffix_point_at_the_one_table_of_people() -> None:
    from dsar.discovery.references import infer
    from dsar.discovery.schema import Column, Table

    def table(name: str, pk: str, cols: dict[str, str], rows: list[dict[str, object]]) -> Table:
        columns = [Column(c, k, k, True, None) for c, k in cols.items()]
        return Table(name, columns, [pk], [], [(pk,)], [], sample=rows)

    employee = table("employee", "emp_no", {"emp_no": "int"}, [{"emp_no": i} for i in (2, 4, 11, 61, 118, 134)])
    sales = table(
        "sales",
        "po_number",
        {"po_number": "text", "sales_rep": "int", "team_leader": "int"},
        [{"po_number": f"V{i}", "sales_rep": r, "team_leader": r} for i, r in enumerate((11, 61, 118, 134))],
    )
    found = {(r.column, r.parent, r.parent_column) for r in infer([employee, sales]) if r.confidence >= 0.5}
    assert found == {("sales_rep", "employee", "emp_no"), ("team_leader", "employee", "emp_no")}
