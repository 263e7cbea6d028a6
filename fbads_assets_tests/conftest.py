pytest_plugins = ["fbads_assets_tests.conftest_bigquery"]
