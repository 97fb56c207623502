"""Schemathesis hooks for Tessera (loaded through SCHEMATHESIS_HOOKS by run.sh).

Authentication is an auth provider rather than a fixed header, because the generated requests
include ones that end the very session they are sent with (logout, logout-all, DELETE of the
current session, an admin revoking their own sessions, a stale refresh cookie replayed): on a 401
schemathesis logs in again and replays the request, so later operations are still tested
authenticated.

TESSERA_ST_AUTH selects how:
  bearer  log in with token_delivery=body, send `Authorization: Bearer <access token>`;
  cookie  log in with cookies, send them back in `Cookie` plus `X-CSRF-Token`, as the SPA does.
TESSERA_ST_BASE, TESSERA_ST_EMAIL and TESSERA_TEST_PASSWORD name the server and the account.
"""

import os

import schemathesis
from hypothesis.internal import lambda_sources

from login import login_bearer, login_cookie

# CPython 3.11's ast.parse can fail with "SystemError: AST constructor recursion depth mismatch"
# when called deep in a stack (fixed in 3.12). Hypothesis calls it only to pretty-print a lambda in a
# strategy's repr, which schemathesis's coverage phase triggers; a failure there is not a finding.
_describe_lambda = lambda_sources._lambda_description


def _describe_lambda_safely(f):
    try:
        return _describe_lambda(f)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _describe_lambda_safely

MODE = os.environ["TESSERA_ST_AUTH"]
BASE = os.environ["TESSERA_ST_BASE"]
EMAIL = os.environ["TESSERA_ST_EMAIL"]


@schemathesis.auth(refresh_interval=600)
class TesseraAuth:
    def get(self, case, ctx):
        if MODE == "bearer":
            return {"headers": {"Authorization": f"Bearer {login_bearer(BASE, EMAIL)}"}, "cookies": {}}
        cookies, csrf = login_cookie(BASE, EMAIL)
        return {"headers": {"X-CSRF-Token": csrf}, "cookies": cookies}

    def set(self, case, data, ctx):
        # As case parameters (not a raw Cookie header), so the ignored_auth check can take the
        # declared credential away and see the request refused.
        case.headers = {**(case.headers or {}), **data["headers"]}
        case.cookies = {**(case.cookies or {}), **data["cookies"]}
