"""clever/views/pages.py: the privacy notice."""

from __future__ import annotations


def test_the_privacy_page_says_what_is_kept_and_how_to_delete_it(client):
    page = client.get("/privacy")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for words in ("What we store", "How long", "Asking for deletion", "365 days"):
        assert words in text
    assert "mailto:" not in text  # no contact configured


def test_every_page_links_the_privacy_notice(client):
    assert 'href="/privacy"' in client.get("/").get_data(as_text=True)
    assert 'href="/privacy"' in client.get("/login").get_data(as_text=True)


def test_the_operator_names_the_contact(app_config):
    from app import create_app

    app = create_app({**app_config, "PRIVACY_CONTACT": "privacy@district.example.org"})
    text = app.test_client().get("/privacy").get_data(as_text=True)
    assert 'href="mailto:privacy@district.example.org"' in text
