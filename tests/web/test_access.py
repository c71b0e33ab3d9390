"""Access: the API token, the login, CSRF protection, security headers and upload limits."""

from __future__ import annotations

import io
import re

import pytest

from core.migrate import upgrade
from core.settings import Settings
from web import create_app

TOKEN = "s3cret-token-for-tests"


@pytest.fixture()
def make_client(tmp_path):  # type: ignore[no-untyped-def]
    def make(**overrides: object):  # type: ignore[no-untyped-def]
        settings = Settings.from_env({}, data_dir=tmp_path, **overrides)
        upgrade(settings)
        app = create_app(settings)
        app.testing = True
        return app.test_client()

    return make


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (200, 100), 255).save(buffer, "PNG")
    return buffer.getvalue()


def test_with_a_token_every_api_call_needs_it(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(api_token=TOKEN)
    for method, path in (("get", "/api/batches"), ("get", "/api/batches/x"),
                         ("post", "/api/batches"), ("get", "/api/review/next"),
                         ("patch", "/api/fields/1"), ("get", "/api/templates")):
        response = getattr(client, method)(path)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/api/batches", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = client.get("/api/batches", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200
    assert client.get("/healthz").status_code in (200, 503)  # health needs no token


def test_with_a_token_pages_need_a_login(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(api_token=TOKEN)
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    refused = client.post("/login", data={"name": "ana", "token": "nope", "csrf_token": csrf})
    assert "not right" in refused.get_data(as_text=True)
    accepted = client.post("/login", data={"name": "ana", "token": TOKEN, "csrf_token": csrf})
    assert accepted.status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/api/batches").status_code == 200  # the browser session also opens the API


def test_browser_changes_need_the_csrf_token(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client()
    page = client.get("/").get_data(as_text=True)  # gives the browser its session cookie
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    data = {"files": [(io.BytesIO(_png()), "a.png")]}
    forged = client.post("/api/batches", data=data, content_type="multipart/form-data",
                         headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403 and "CSRF" in forged.get_json()["error"]
    data = {"files": [(io.BytesIO(_png()), "a.png")]}
    own = client.post("/api/batches", data=data, content_type="multipart/form-data",
                      headers={"X-CSRF-Token": csrf, "Origin": "http://localhost"})
    assert own.status_code == 202, own.get_json()


def test_api_clients_without_cookies_need_no_csrf(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client()  # a fresh client has no session cookie, like curl
    data = {"files": [(io.BytesIO(_png()), "a.png")]}
    response = client.post("/api/batches", data=data, content_type="multipart/form-data")
    assert response.status_code == 202


def test_security_headers(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client()
    for path in ("/", "/api/batches", "/healthz"):
        headers = client.get(path).headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert client.get("/api/batches").headers["Cache-Control"] == "no-store"


def test_an_upload_over_the_limit_is_413(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(max_upload_bytes=50_000)
    data = {"files": [(io.BytesIO(b"\x89PNG\r\n\x1a\n" + bytes(60_000)), "big.png")]}
    response = client.post("/api/batches", data=data, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "limit" in response.get_json()["error"]


def test_no_user_path_reaches_the_file_system(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client()
    for path in ("/static/../core/settings.py", "/api/documents/1/pages/1/image",
                 "/api/fields/1/crop.png", "/api/batches/..%2f..%2fetc%2fpasswd"):
        response = client.get(path)
        assert response.status_code in (404, 400), path


def test_api_errors_are_json_everywhere(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client()
    for path in ("/api/no-such-thing", "/api/fields/999999", "/api/review/next?after=x",
                 "/api/documents/1/pages/1/image?max_width=wide"):
        response = client.get(path)
        assert response.status_code in (400, 404), path
        assert "error" in response.get_json(), path
    assert client.get("/api/templates").get_json() == {"templates": ["cheque"]}



def _login(client, token: str | None = TOKEN, next_path: str = "", name: str = "ana"):  # type: ignore[no-untyped-def]
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    query = f"?next={next_path}" if next_path else ""
    return client.post(f"/login{query}", data={"name": name, "token": token or "", "csrf_token": csrf})


@pytest.mark.parametrize("target", ["/%09/evil.example/", "//evil.example/", "/%5Cevil.example/",
                                    "/%0d%0a/evil.example", "https://evil.example/", "evil.example"])
def test_the_login_never_sends_anyone_to_another_site(make_client, target: str) -> None:  # type: ignore[no-untyped-def]
    response = _login(make_client(api_token=TOKEN), next_path=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location == "/", (target, location)


def test_the_login_goes_back_to_the_page_asked_for(make_client) -> None:  # type: ignore[no-untyped-def]
    response = _login(make_client(api_token=TOKEN), next_path="/batches%3Fpage%3D2")
    assert response.headers["Location"] == "/batches?page=2"


def test_a_session_ends_at_logout_even_for_a_copied_cookie(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(api_token=TOKEN)
    assert _login(client).status_code == 302
    assert client.get("/api/batches").status_code == 200
    copied = client.get_cookie("session").value
    page = client.get("/batches").get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert client.post("/logout", data={"csrf_token": csrf.group(1) if csrf else ""},
                       headers={"X-CSRF-Token": csrf.group(1) if csrf else ""}).status_code == 302
    thief = make_client(api_token=TOKEN)
    thief.set_cookie("session", copied)
    assert thief.get("/api/batches").status_code == 401
    assert thief.get("/").status_code == 302  # to the login


def test_a_new_api_token_ends_the_sessions_made_under_the_old_one(make_client) -> None:  # type: ignore[no-untyped-def]
    before = make_client(api_token=TOKEN, secret_key="k" * 64)
    assert _login(before).status_code == 302
    cookie = before.get_cookie("session").value
    after = make_client(api_token="a-new-token-after-a-leak", secret_key="k" * 64)  # a restart
    after.set_cookie("session", cookie)
    assert after.get("/api/batches").status_code == 401
    again = make_client(api_token=TOKEN, secret_key="k" * 64)  # the old token back: still valid
    again.set_cookie("session", cookie)
    assert again.get("/api/batches").status_code == 200


def test_wrong_tokens_are_limited_per_client(make_client) -> None:  # type: ignore[no-untyped-def]
    from web.sessions import LOGIN_MAX_FAILURES

    client = make_client(api_token=TOKEN)
    for _ in range(LOGIN_MAX_FAILURES):
        assert "not right" in _login(client, token="guess").get_data(as_text=True)
    refused = _login(client, token=TOKEN)  # even the right one, until the window has passed
    assert refused.status_code == 429 and "try again in" in refused.get_data(as_text=True)
    api = client.get("/api/batches", headers={"Authorization": f"Bearer {TOKEN}"})
    assert api.status_code == 429 and int(api.headers["Retry-After"]) > 0


def test_wrong_bearer_tokens_are_limited_too(make_client) -> None:  # type: ignore[no-untyped-def]
    from web.sessions import LOGIN_MAX_FAILURES

    client = make_client(api_token=TOKEN)
    for _ in range(LOGIN_MAX_FAILURES):
        assert client.get("/api/batches", headers={"Authorization": "Bearer guess"}).status_code == 401
    response = client.get("/api/batches", headers={"Authorization": "Bearer guess"})
    assert response.status_code == 429 and "try again" in response.get_json()["error"]
