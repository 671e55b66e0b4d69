"""The ODR sign-in code's e-mail (sent by the shared mailers of `dsar.notifications.mail`)."""

from __future__ import annotations

from email.message import EmailMessage

from dsar.notifications.mail import Mailer

__all__ = ["Mailer", "code_message"]


def code_message(sender: str, to: str, organisation: str, code: str, minutes: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = f"Your sign-in code for {organisation}: {code}"
    msg.set_content(
        f"Your sign-in code is {code}\n\n"
        f"Enter it on the {organisation} sign-in page to let an app request a copy of your personal data.\n"
        f"It is valid for {minutes} minutes and can be used once.\n\n"
        "If you did not try to sign in, ignore this e-mail: nothing happens without the code.\n"
    )
    return msg
