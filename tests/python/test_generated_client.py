"""The generated Python client against the real binary: token_delivery=body, Bearer, refresh,
and a login with a second factor (TOTP, a recovery code) completed with the body's mfa_token."""

import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request
import uuid

from tessera_client import AuthenticatedClient, Client
from tessera_client.api.auth import complete_mfa, login, logout, refresh, register
from tessera_client.api.me import confirm_totp, get_me, get_mfa_status, start_totp_enrolment
from tessera_client.models import (
    AuthResponse,
    CompleteMfaRequest,
    ConfirmTotpRequest,
    LoginRequest,
    MfaChallengeResponse,
    RefreshTokenRequest,
    RegisterRequest,
    TokenDeliveryView,
)
from tessera_client.types import UNSET

PASSWORD = "velvet orbit canyon pickle 42"


def totp_code(secret: str, step: int) -> str:
    """RFC 6238 (SHA-1, 6 digits) for time step `step` of the base32 `secret` the server showed."""
    key = base64.b32decode(secret.replace(" ", "").upper() + "=" * (-len(secret.replace(" ", "")) % 8))
    digest = hmac.new(key, step.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GeneratedClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        binary = os.environ.get("TESSERA_BIN", "target/debug/tessera")
        cls.data_dir = tempfile.mkdtemp(prefix="tessera-py-")
        port = free_port()
        cls.origin = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_") and k != "DATABASE_URL"}
        env.update(
            TESSERA_ADDR=f"127.0.0.1:{port}",
            TESSERA_DATA_DIR=cls.data_dir,
            TESSERA_REFRESH_GRACE="1s",
            TESSERA_RATE_LIMIT_PER_IP="0",
            RUST_LOG="warn",
        )
        cls.log = open(os.path.join(cls.data_dir, "server.log"), "wb")
        cls.server = subprocess.Popen([binary, "serve"], env=env, stdout=cls.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if cls.server.poll() is not None:
                raise RuntimeError(f"tessera exited with {cls.server.returncode}")
            try:
                with urllib.request.urlopen(f"{cls.origin}/api/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("tessera did not become healthy")
            time.sleep(0.1)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.terminate()
        try:
            cls.server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            cls.server.kill()
        cls.log.close()
        shutil.rmtree(cls.data_dir, ignore_errors=True)

    def closing(self, client):
        self.addCleanup(lambda: client.get_httpx_client().close())
        return client

    def client(self, strict: bool = True) -> Client:
        # A fresh client each time: no cookie jar carries state between steps.
        return self.closing(Client(base_url=self.origin, raise_on_unexpected_status=strict))

    def bearer(self, token: str) -> AuthenticatedClient:
        return self.closing(AuthenticatedClient(base_url=self.origin, token=token, raise_on_unexpected_status=False))

    def test_body_tokens_me_and_refresh(self) -> None:
        email = f"py-{uuid.uuid4().hex[:8]}@example.com"
        created = register.sync_detailed(
            client=self.client(), body=RegisterRequest(email=email, password=PASSWORD, name="Py Thon")
        )
        self.assertEqual(created.status_code, 201, created.content)
        # A cookie session never gets tokens in a body.
        self.assertIs(created.parsed.access_token, UNSET)

        session = login.sync(
            client=self.client(),
            body=LoginRequest(email=email, password=PASSWORD, token_delivery=TokenDeliveryView.BODY),
        )
        self.assertIsNotNone(session)
        self.assertEqual(session.user.email, email)
        self.assertEqual(session.token_type, "Bearer")
        self.assertTrue(session.access_token and session.refresh_token)

        me = get_me.sync_detailed(client=self.bearer(session.access_token))
        self.assertEqual(me.status_code, 200, me.content)
        self.assertEqual(me.parsed.email, email)
        self.assertEqual(me.parsed.name, "Py Thon")
        self.assertEqual(str(me.parsed.session_id), str(session.session.id))

        rotated = refresh.sync(client=self.client(), body=RefreshTokenRequest(refresh_token=session.refresh_token))
        self.assertIsNotNone(rotated)
        self.assertNotEqual(rotated.refresh_token, session.refresh_token)
        self.assertNotEqual(rotated.access_token, session.access_token)
        again = get_me.sync_detailed(client=self.bearer(rotated.access_token))
        self.assertEqual(again.status_code, 200, again.content)

        # The superseded refresh token, replayed after the grace window, revokes the session.
        time.sleep(1.3)
        replay = refresh.sync_detailed(
            client=self.client(strict=False),
            body=RefreshTokenRequest(refresh_token=session.refresh_token),
        )
        self.assertEqual(replay.status_code, 401)
        self.assertEqual(json.loads(replay.content)["code"], "refresh_reused")
        gone = get_me.sync_detailed(client=self.bearer(rotated.access_token))
        self.assertEqual(gone.status_code, 401)
        self.assertEqual(json.loads(gone.content)["code"], "session_revoked")

    def test_logout_with_a_body_token(self) -> None:
        email = f"py-{uuid.uuid4().hex[:8]}@example.com"
        register.sync(client=self.client(), body=RegisterRequest(email=email, password=PASSWORD, name="Out"))
        session = login.sync(
            client=self.client(),
            body=LoginRequest(email=email, password=PASSWORD, token_delivery=TokenDeliveryView.BODY),
        )
        out = logout.sync_detailed(
            client=self.bearer(session.access_token), body=RefreshTokenRequest(refresh_token=session.refresh_token)
        )
        self.assertEqual(out.status_code, 204, out.content)
        after = refresh.sync_detailed(
            client=self.client(strict=False),
            body=RefreshTokenRequest(refresh_token=session.refresh_token),
        )
        self.assertEqual(after.status_code, 401)

    def body_login(self, email: str):
        return login.sync_detailed(
            client=self.client(),
            body=LoginRequest(email=email, password=PASSWORD, token_delivery=TokenDeliveryView.BODY),
        )

    def test_a_second_factor_completes_a_body_login(self) -> None:
        email = f"py-{uuid.uuid4().hex[:8]}@example.com"
        register.sync(client=self.client(), body=RegisterRequest(email=email, password=PASSWORD, name="Two"))
        session = self.body_login(email).parsed
        self.assertIsInstance(session, AuthResponse)
        me = self.bearer(session.access_token)

        # Enrol: the secret as shown, a first code from the current time step (the server's clock
        # is the real one here; a step later than the confirmation's is accepted next, within
        # the ±1 step window, without waiting).
        started = start_totp_enrolment.sync_detailed(client=me)
        self.assertEqual(started.status_code, 200, started.content)
        self.assertTrue(started.parsed.otpauth_uri.startswith("otpauth://totp/"))
        step = int(time.time()) // 30
        confirmed = confirm_totp.sync_detailed(
            client=me, body=ConfirmTotpRequest(code=totp_code(started.parsed.secret, step))
        )
        self.assertEqual(confirmed.status_code, 200, confirmed.content)
        recovery_codes = confirmed.parsed.recovery_codes
        self.assertEqual(len(recovery_codes), 10)
        status = get_mfa_status.sync(client=me)
        self.assertTrue(status.totp)

        # The password alone: 202 with an mfa_token, no tokens.
        challenged = self.body_login(email)
        self.assertEqual(challenged.status_code, 202, challenged.content)
        self.assertIsInstance(challenged.parsed, MfaChallengeResponse)
        self.assertEqual(challenged.parsed.methods, ["totp", "recovery_code"])
        token = challenged.parsed.mfa_token
        self.assertTrue(token)
        wrong = complete_mfa.sync_detailed(
            client=self.client(strict=False), body=CompleteMfaRequest(mfa_token=token, totp_code="000000")
        )
        self.assertEqual(wrong.status_code, 401)
        self.assertEqual(json.loads(wrong.content)["code"], "mfa_failed")
        done = complete_mfa.sync(
            client=self.client(),
            body=CompleteMfaRequest(mfa_token=token, totp_code=totp_code(started.parsed.secret, step + 1)),
        )
        self.assertTrue(done.access_token and done.refresh_token)
        after = get_me.sync(client=self.bearer(done.access_token))
        self.assertEqual(after.amr, ["pwd", "otp", "mfa"])

        # A recovery code, once.
        token = self.body_login(email).parsed.mfa_token
        done = complete_mfa.sync(
            client=self.client(), body=CompleteMfaRequest(mfa_token=token, recovery_code=recovery_codes[0])
        )
        self.assertEqual(get_me.sync(client=self.bearer(done.access_token)).amr, ["pwd", "mfa"])
        token = self.body_login(email).parsed.mfa_token
        reused = complete_mfa.sync_detailed(
            client=self.client(strict=False), body=CompleteMfaRequest(mfa_token=token, recovery_code=recovery_codes[0])
        )
        self.assertEqual(reused.status_code, 401)


if __name__ == "__main__":
    unittest.main()
