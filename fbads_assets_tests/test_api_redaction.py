"""Redaction: the one place secrets are scrubbed from text, payloads and log records."""

from __future__ import annotations

import logging

from fbads_assets.api.redaction import (
    MASK,
    install_log_redaction,
    redact,
    redact_obj,
    register_secret,
)

SANDBOX_LIKE_TOKEN = "sbx-system-user-0123456789abcdef"


def test_redact_removes_every_secret_parameter_from_urls_and_forms():
    url = (
        "https://graph.facebook.com/v26.0/act_1/insights?access_token=abc123secret"
        "&appsecret_proof=deadbeef99&fields=spend&input_token=tok777777"
        "&fb_exchange_token=short5555555&client_secret=s3cr3t999"
    )
    clean = redact(url)
    for secret in ("abc123secret", "deadbeef99", "tok777777", "short5555555", "s3cr3t999"):
        assert secret not in clean
    assert "fields=spend" in clean
    assert clean.count(MASK) == 5


def test_redact_handles_json_reprs_bearer_and_url_encoded_forms():
    text = (
        '{"access_token": "json-secret-1"} '
        "{'client_secret': 'repr-secret-2'} "
        "Authorization: Bearer bearer-secret-3 "
        "next=https%3A%2F%2Fx%3Faccess_token%3Dencoded-secret-4"
    )
    clean = redact(text)
    for secret in ("json-secret-1", "repr-secret-2", "bearer-secret-3", "encoded-secret-4"):
        assert secret not in clean


def test_redact_masks_meta_shaped_tokens_in_free_text():
    # Built at run time so no file holds a string shaped like a real Meta token.
    meta_shaped = "EAA" + "Bx9" * 12
    assert meta_shaped not in redact(f"token was {meta_shaped}, oops")


def test_registered_exact_secrets_are_masked_whatever_surrounds_them():
    register_secret(SANDBOX_LIKE_TOKEN)
    assert SANDBOX_LIKE_TOKEN not in redact(f"failed for {SANDBOX_LIKE_TOKEN}!")
    assert SANDBOX_LIKE_TOKEN not in redact(f"x{SANDBOX_LIKE_TOKEN}y")


def test_short_values_are_not_registered_so_ordinary_words_survive():
    register_secret("1")
    assert redact("account 1 has 1 ad") == "account 1 has 1 ad"


def test_redact_obj_drops_paging_and_masks_secret_keys():
    payload = {
        "data": [{"spend": "1.5", "note": f"see {SANDBOX_LIKE_TOKEN}"}],
        "paging": {"next": "https://graph.facebook.com/v26.0/act_1?access_token=zzzzzzzzz"},
        "access_token": "whatever-value",
    }
    register_secret(SANDBOX_LIKE_TOKEN)
    clean = redact_obj(payload)
    assert "paging" not in clean
    assert clean["access_token"] == MASK
    assert clean["data"][0]["spend"] == "1.5"
    assert SANDBOX_LIKE_TOKEN not in str(clean)


def test_log_redaction_scrubs_records_of_any_logger_with_args_and_tracebacks(caplog):
    secret = "sbx-log-secret-abcdef0123456789"
    install_log_redaction([secret])
    logger = logging.getLogger("some.library.deep.down")
    with caplog.at_level(logging.DEBUG):
        logger.warning("GET /v26.0/act_1/?access_token=%s&fields=name", secret)
        try:
            raise RuntimeError(f"boom with {secret}")
        except RuntimeError:
            logger.exception("failed")
    assert secret not in caplog.text
    assert "access_token=[REDACTED]" in caplog.text
    assert "boom with [REDACTED]" in caplog.text


def test_log_redaction_holds_urllib3_at_warning():
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    install_log_redaction([])
    assert logging.getLogger("urllib3").level == logging.WARNING
