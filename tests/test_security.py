def test_security_headers_on_every_page(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_callback_pages_never_leak_the_code_in_a_referer(client):
    response = client.get("/auth/clever/callback")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_authenticated_pages_are_not_cached(flow, client):
    flow.portal_launch("mateo")
    response = client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_logout_clears_site_data(flow, client):
    flow.portal_launch("mateo")
    response = client.post("/logout")
    assert "storage" in response.headers["Clear-Site-Data"]
