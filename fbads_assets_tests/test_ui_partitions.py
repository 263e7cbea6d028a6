"""The user's path through the Dagster UI, in headless Chromium against a live ``dagster dev``.

A newcomer opens the asset graph, registers the ad accounts, materializes one insights
partition, backfills three days of one account and reads the checks. The shipped UI has no
test ids (they exist only in Dagster's own test build), so every selector is a role or a
visible text; the wait for a run or backfill polls the instance with a deadline.
"""

import datetime as dt
import re

import pytest
from playwright.sync_api import Locator, Page, expect

from fbads_assets_tests.infra.dagster_ui import (
    DagsterUi,
    materialized_partitions,
    registered_accounts,
    wait_for_backfill,
    wait_for_run,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# token → API → raw → typed → mart: each pair is an edge the UI's lineage must show.
LINEAGE = [
    ("ad_accounts", "campaigns"),
    ("campaigns", "ad_sets"),
    ("ad_sets", "ads"),
    ("ads", "ad_insights_raw"),
    ("ad_insights_raw", "ad_insights_daily"),
    ("ad_insights_daily", "facebook_ads_campaign_daily"),
]
INSIGHTS_ASSET = "ad_insights_raw"
INSIGHTS_CHECK = "reconciles_with_account_totals"
BACKFILL_DAYS = 3


def materialize_button(page: Page) -> Locator:
    # Its accessible name starts with the icon's label ("materialization Materialize…"), so
    # match the visible text; partitioned assets show "Materialize…" (it opens a dialog).
    return page.get_by_role("button").filter(has_text=re.compile(r"^Materialize")).first


def open_partition_dialog(page: Page, asset: str) -> Locator:
    """Asset page → Materialize…; confirms the "upstream not materialized" warning if shown."""
    page.goto(f"/assets/{asset}")
    materialize_button(page).click()
    dialog = page.get_by_role("dialog").filter(has_text="Partition selection")
    confirm = page.get_by_role("button", name="Confirm")
    expect(dialog.or_(confirm)).to_be_visible()
    if confirm.is_visible():
        # "Materializing these assets may fail because the upstream assets … have not been
        # materialized": the insights only order after ads, they do not read them.
        confirm.click()
    expect(dialog).to_be_visible()
    return dialog


def pick_account(page: Page, dialog: Locator, account_id: str) -> None:
    selector = dialog.get_by_text("Select a partition or create one")
    # While the partition statuses load, the dialog briefly renders its body twice: wait for
    # one selector before clicking it.
    expect(selector).to_have_count(1)
    selector.click()
    page.get_by_role("menuitem").filter(has=page.get_by_title(account_id, exact=True)).click()
    # Close the account menu without Escape, which would close the whole dialog.
    dialog.get_by_text("Launch runs to materialize").click()


def date_input(dialog: Locator) -> Locator:
    return dialog.get_by_placeholder(re.compile(r"^ex: "))


def test_ui_graph_partition_run_backfill_and_checks(
    ui_page: Page, dagster_ui: DagsterUi, screenshots
) -> None:
    page = ui_page

    # 1. The asset graph, then the chain from accounts to the mart, edge by edge.
    page.goto("/asset-groups")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Materialize all"))).to_be_visible()
    screenshots.take(page, "asset graph")
    for upstream, downstream in LINEAGE:
        page.goto(f"/assets/{upstream}")
        # Names render twice inside a link (shown and measured for truncation) but carry the
        # full name as a title.
        downstream_link = page.get_by_role("link").filter(
            has=page.get_by_title(downstream, exact=True)
        )
        expect(downstream_link.first).to_be_visible()
    mart = LINEAGE[-1][1]
    page.goto(f"/assets/{mart}?view=lineage&lineageScope=upstream&lineageDepth={len(LINEAGE)}")
    expect(page.get_by_text(LINEAGE[0][0]).first).to_be_visible()
    screenshots.take(page, "upstream lineage of the mart")

    # 2. Register the ad accounts: materializing ad_accounts adds the account partitions.
    page.goto("/assets/ad_accounts")
    materialize_button(page).click()
    wait_for_run(dagster_ui, {"dagster/from_ui": "true"})
    account_id = wait_until(lambda: registered_accounts(dagster_ui), 30, "account partitions")[0]
    page.reload()
    expect(page.get_by_text("Never materialized")).to_have_count(0)
    screenshots.take(page, "ad accounts materialized")

    # 3. One account, the latest date: "Launch 1 run".
    dialog = open_partition_dialog(page, INSIGHTS_ASSET)
    pick_account(page, dialog, account_id)
    dialog.get_by_role("button", name="Latest").click()
    latest = date_input(dialog).input_value()
    partition = f"{account_id}|{latest}"
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    screenshots.take(page, "one partition selected")
    dialog.get_by_role("button", name="Launch 1 run").click()
    wait_for_run(dagster_ui, {"dagster/partition": partition})
    assert partition in materialized_partitions(dagster_ui, INSIGHTS_ASSET)
    page.goto(f"/assets/{INSIGHTS_ASSET}?view=events")
    expect(page.get_by_text(partition).first).to_be_visible()
    screenshots.take(page, "partition materialized")

    # 4. Three days of the same account, typed as a range: "Launch backfill".
    last_day = dt.date.fromisoformat(latest) - dt.timedelta(days=1)
    first_day = last_day - dt.timedelta(days=BACKFILL_DAYS - 1)
    dialog = open_partition_dialog(page, INSIGHTS_ASSET)
    pick_account(page, dialog, account_id)
    date_input(dialog).fill(f"[{first_day}...{last_day}]")
    date_input(dialog).press("Enter")
    expect(dialog.get_by_text(f"{BACKFILL_DAYS} partitions", exact=True)).to_be_visible()
    screenshots.take(page, "three day backfill selected")
    with dagster_ui.instance() as instance:
        known = {b.backfill_id for b in instance.get_backfills()}
    dialog.get_by_role("button", name="Launch backfill").click()

    def new_backfill_id():
        with dagster_ui.instance() as instance:
            return next(
                (b.backfill_id for b in instance.get_backfills() if b.backfill_id not in known),
                None,
            )

    backfill_id = wait_until(new_backfill_id, 30, "the backfill the dialog launched")
    wait_for_backfill(dagster_ui, backfill_id)
    days = [first_day + dt.timedelta(days=n) for n in range(BACKFILL_DAYS)]
    expected = {f"{account_id}|{day}" for day in days}
    assert expected <= materialized_partitions(dagster_ui, INSIGHTS_ASSET)
    page.goto(f"/runs/b/{backfill_id}")
    expect(page.get_by_text("Succeeded", exact=True).first).to_be_visible()
    expect(page.get_by_text("100% completed", exact=True).first).to_be_visible()
    screenshots.take(page, "backfill completed")

    # 5. The Checks tab: every check of the insights asset passed, the reconciliation too.
    page.goto(f"/assets/{INSIGHTS_ASSET}")
    page.get_by_role("tab", name="Checks").click()
    heading = page.get_by_text(re.compile(r"^Checks \(\d+\)$"))
    expect(heading).to_be_visible()
    checks = int(re.search(r"\d+", heading.inner_text()).group())
    expect(page.get_by_text(INSIGHTS_CHECK).first).to_be_visible()
    expect(page.get_by_text("Succeeded", exact=True)).to_have_count(checks)
    expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
    screenshots.take(page, "checks passed")
