"""Fixtures shared across the suite live in plugin modules next to the tests that need them."""

pytest_plugins = ["fbads_assets_tests.conftest_bigquery", "fbads_assets_tests.conftest_ui"]
