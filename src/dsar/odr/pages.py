"""The sign-in pages: plain HTML forms with inline CSS, no JavaScript, no external resources."""

from __future__ import annotations

from html import escape

from dsar.odr.oauth import SignInPage

_CSS = """
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:#f3f5f8;color:#1c2430}main{max-width:420px;margin:8vh auto;padding:0 16px}
.card{background:#fff;border-radius:14px;box-shadow:0 2px 12px rgba(20,30,50,.08);padding:32px}
.brand{display:flex;align-items:center;gap:10px;margin-bottom:20px;font-weight:600;color:#34404f}
.logo{width:34px;height:34px;border-radius:9px;background:#2457d6;color:#fff;display:grid;place-items:center;
font-weight:700}h1{font-size:1.35rem;margin:0 0 8px}p{margin:0 0 16px;color:#4a5565}
label{display:block;font-weight:600;margin:0 0 6px}input[type=email],input[type=text]{width:100%;padding:12px 14px;
font-size:1rem;border:1px solid #c9d1dc;border-radius:9px}input:focus{outline:3px solid #b9cdfa;border-color:#2457d6}
.code{letter-spacing:.4em;font-size:1.4rem;text-align:center}button{width:100%;margin-top:16px;padding:12px;
font-size:1rem;font-weight:600;color:#fff;background:#2457d6;border:0;border-radius:9px;cursor:pointer}
button:hover{background:#1d47b2}.link{background:none;color:#2457d6;font-weight:500;margin-top:8px;padding:6px}
.link:hover{background:none;text-decoration:underline}.error{background:#fdecec;color:#9b1c1c;padding:10px 12px;
border-radius:8px;margin-bottom:16px}.notice{background:#eaf2ff;color:#173d8f;padding:10px 12px;border-radius:8px;
margin-bottom:16px}.app{font-family:ui-monospace,monospace;background:#f0f2f5;padding:1px 6px;border-radius:5px}
.or{text-align:center;color:#8a94a3;margin:18px 0 0;font-size:.9rem}.second{background:#fff;color:#2457d6;
border:1px solid #2457d6}.second:hover{background:#eef3ff}
footer{margin-top:18px;font-size:.85rem;color:#6b7686;text-align:center}footer a{color:#6b7686}
"""


def _page(org: str, title: str, body: str, privacy_policy: str = "") -> str:
    policy = f' · <a href="{escape(privacy_policy)}">Privacy policy</a>' if privacy_policy else ""
    initial = escape((org.strip() or "?")[0].upper())
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)} · {escape(org)}</title><style>{_CSS}</style></head><body><main>"
        f'<div class="card"><div class="brand"><span class="logo">{initial}</span>{escape(org)}</div>{body}</div>'
        f"<footer>Open Data Rights sign-in{policy}</footer></main></body></html>"
    )


def sign_in_page(view: SignInPage, org: str, action: str, privacy_policy: str = "", company_label: str = "") -> str:
    app = f'<span class="app">{escape(view.app)}</span>'
    msg = ""
    if view.error:
        msg += f'<div class="error" role="alert">{escape(view.error)}</div>'
    if view.notice:
        msg += f'<div class="notice">{escape(view.notice)}</div>'
    hidden = f'<input type="hidden" name="sign_in" value="{escape(view.id)}">'
    if view.step == "locked":
        body = (
            "<h1>Too many wrong codes</h1><p>For your safety this sign-in is locked. Go back to the app and "
            "start again.</p>"
        )
        return _page(org, "Sign-in locked", body, privacy_policy)
    if view.step == "code":
        body = (
            f"<h1>Check your e-mail</h1>{msg}<p>Enter the code we sent to <strong>{escape(view.email)}</strong>. "
            f"It lets {app} request and download a copy of your personal data.</p>"
            f'<form method="post" action="{escape(action)}">{hidden}<input type="hidden" name="step" value="code">'
            '<label for="code">Sign-in code</label><input class="code" id="code" name="code" type="text" '
            'inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="8" required autofocus>'
            "<button type=submit>Sign in</button></form>"
            f'<form method="post" action="{escape(action)}">{hidden}<input type="hidden" name="step" value="email">'
            f'<input type="hidden" name="email" value="{escape(view.email)}">'
            '<button class="link" type="submit">Send a new code</button></form>'
        )
        return _page(org, "Enter your code", body, privacy_policy)
    body = (
        f"<h1>Sign in to see your data</h1>{msg}<p>{app} wants to request a copy of the personal data "
        f"{escape(org)} holds about you. Enter your e-mail address and we will send you a one-time code.</p>"
        f'<form method="post" action="{escape(action)}">{hidden}<input type="hidden" name="step" value="email">'
        '<label for="email">E-mail address</label>'
        f'<input id="email" name="email" type="email" autocomplete="email" value="{escape(view.email)}" required '
        "autofocus><button type=submit>Send me a code</button></form>"
    )
    if company_label:
        body += (
            '<div class="or">or</div>'
            f'<form method="post" action="{escape(action)}">{hidden}<input type="hidden" name="step" value="oidc">'
            f'<button class="second" type="submit">{escape(company_label)}</button></form>'
        )
    return _page(org, "Sign in", body, privacy_policy)


def error_page(message: str, org: str) -> str:
    return _page(org, "Cannot sign in", f'<h1>Cannot sign in</h1><div class="error">{escape(message)}</div>')
