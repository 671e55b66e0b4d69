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
