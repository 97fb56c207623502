"""Logs in to a running Tessera: the credentials schemathesis sends (used by hooks.py).

The password comes from the environment variable TESSERA_TEST_PASSWORD, never from argv.
Standard library only.
"""

import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid


class LoginFailed(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def _post(base: str, path: str, payload: dict):
    request = urllib.request.Request(
        f"{base}{path}",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response), response.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")
        raise LoginFailed(f"{path} as {payload['email']} failed: {err.code} {detail}", err.code) from err


def _login(base: str, email: str, delivery: str):
    password = os.environ["TESSERA_TEST_PASSWORD"]
    payload = {"email": email, "password": password, "token_delivery": delivery}
    try:
        return _post(base, "/api/auth/login", payload)
    except LoginFailed as err:
        # Generated requests with a wrong current password (password change, email change,
        # account deletion, re-authentication) count toward the account's login backoff (every
        # password check shares it), so after a few the account must wait: carry on as a fresh
        # account of the same kind — a registered user for the cookie pass, an admin made by the
        # CLI for the bearer pass (it exercises the admin endpoints).
        if err.status != 429:
            raise
    local, _, domain = email.partition("@")
    fresh_email = f"{local}+{uuid.uuid4().hex}@{domain}"
    if delivery == "cookie":
        fresh = {"email": fresh_email, "password": password, "name": "Cookie"}
        return _post(base, "/api/auth/register", fresh)
    subprocess.run(
        [os.environ["TESSERA_BIN"], "user", "create", "--email", fresh_email, "--name", "Admin", "--admin"],
        input=password.encode(),
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return _post(base, "/api/auth/login", {**payload, "email": fresh_email})


def login_bearer(base: str, email: str) -> str:
    """An access token from a token_delivery=body login."""
    payload, set_cookies = _login(base, email, "body")
    if set_cookies:
        raise LoginFailed("a body session must not receive cookies")
    return payload["access_token"]


def login_cookie(base: str, email: str) -> tuple[dict[str, str], str]:
    """The three auth cookies by name, and the CSRF token to echo in X-CSRF-Token."""
    payload, set_cookies = _login(base, email, "cookie")
    if "access_token" in payload or "refresh_token" in payload:
        raise LoginFailed("a cookie session must not receive tokens in the body")
    cookies = {}
    for header in set_cookies:
        name, _, rest = header.partition("=")
        cookies[name.strip()] = rest.split(";", 1)[0]
    csrf = next((value for name, value in cookies.items() if name.endswith("csrf")), None)
    if csrf is None or not any(name.endswith("access") for name in cookies):
        raise LoginFailed(f"login did not set the access and CSRF cookies: {sorted(cookies)}")
    return cookies, csrf
