"""Token checks and token-health metadata, from debug_token answers; no server needed."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from fbads_assets.api.tokens import check_token, token_health_metadata, token_info_from_debug

NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)


def _info(**overrides):
    data = {
        "app_id": "900000000000007",
        "application": "fbads",
        "type": "SYSTEM_USER",
        "is_valid": True,
        "expires_at": 0,
        "data_access_expires_at": 0,
        "scopes": ["ads_read"],
        "user_id": "100",
    }
    data.update(overrides)
    return token_info_from_debug(data)


def _in_days(days: float) -> int:
    return int((NOW + dt.timedelta(days=days)).timestamp())


def test_a_never_expiring_system_user_token_with_ads_read_passes_clean():
    check = check_token(_info(), now=NOW, environment="prod")
    assert check.errors == [] and check.warnings == []


def test_an_invalid_token_fails_with_the_subcode_advice():
    info = _info(is_valid=False, error={"code": 190, "subcode": 460, "message": "changed"})
    check = check_token(info, now=NOW)
    assert len(check.errors) == 1
    assert "190/460" in check.errors[0] and "FACEBOOK_ACCESS_TOKEN" in check.errors[0]


def test_a_token_without_ads_read_fails():
    check = check_token(_info(scopes=["public_profile"]), now=NOW)
    assert any("ads_read" in e for e in check.errors)


def test_expiry_within_the_warning_window_warns_and_outside_does_not():
    soon = check_token(_info(expires_at=_in_days(3.5)), now=NOW, expiry_warning_days=7)
    later = check_token(_info(expires_at=_in_days(30)), now=NOW, expiry_warning_days=7)
    assert any("expires on" in w and "(3 days)" in w for w in soon.warnings)
    assert later.warnings == []


def test_data_access_expiry_warns_too():
    check = check_token(_info(data_access_expires_at=_in_days(2)), now=NOW)
    assert any("Data access" in w for w in check.warnings)


def test_user_token_warns_in_production_only():
    user = _info(type="USER", expires_at=_in_days(50))
    assert any(
        "personal user token" in w for w in check_token(user, now=NOW, environment="prod").warnings
    )
    assert check_token(user, now=NOW, environment="local").warnings == []


def test_ads_management_scope_warns_that_reporting_needs_only_ads_read():
    check = check_token(_info(scopes=["ads_read", "ads_management"]), now=NOW)
    assert check.errors == []
    assert any("ads_management" in w for w in check.warnings)


def test_health_metadata_counts_days_and_omits_them_for_never_expiring_tokens():
    expiring = token_health_metadata(_info(expires_at=_in_days(10.2)), now=NOW)
    forever = token_health_metadata(_info(), now=NOW)
    assert expiring["days_to_expiry"] == dg.MetadataValue.int(10)
    assert isinstance(expiring["expires_at"], dg.TimestampMetadataValue)
    assert expiring["never_expires"] == dg.MetadataValue.bool(False)
    assert "days_to_expiry" not in forever and "expires_at" not in forever
    assert forever["never_expires"] == dg.MetadataValue.bool(True)
    assert forever["scopes"] == dg.MetadataValue.text("ads_read")
