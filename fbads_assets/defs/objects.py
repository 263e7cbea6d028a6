"""Campaigns, ad sets, ads and creatives: one snapshot per account partition.

Archived and deleted objects are included, so insights of ads that no longer run still join to
their names. Each asset replaces its account's rows on every run.
"""

from collections.abc import Callable

import dagster as dg
import pandas as pd

from fbads_assets.defs.common import (
    ACCOUNTS_GROUP,
    API_KINDS,
    API_POOL,
    DAILY_FRESHNESS,
    table_metadata,
    utc_now,
)
from fbads_assets.defs.fields import OBJECT_FIELDS
from fbads_assets.defs.metadata import cost_metadata, preview
from fbads_assets.partitions import account_partitions
from fbads_assets.resources import FacebookAdsResource
from fbads_assets.transform.objects import (
    ad_creatives_frame,
    ad_sets_frame,
    ads_frame,
    campaigns_frame,
)

FrameBuilder = Callable[..., pd.DataFrame]


def account_currency(accounts: pd.DataFrame, account_id: str) -> str:
    match = accounts.loc[accounts["account_id"] == account_id, "currency"]
    if match.empty:
        raise dg.Failure(
            description=(
                f"Account {account_id} is not in the ad_accounts table. Materialize "
                "ad_accounts first; it lists the accounts the token reads."
            ),
            allow_retries=False,
        )
    return str(match.iloc[0])


def build_object_asset(
    name: str, edge: str, to_frame: FrameBuilder, description: str, parent: str
) -> dg.AssetsDefinition:
    """An account-partitioned snapshot of one object edge (/act_X/<edge>)."""

    @dg.asset(
        name=name,
        description=description,
        group_name=ACCOUNTS_GROUP,
        kinds=API_KINDS,
        pool=API_POOL,
        partitions_def=account_partitions,
        freshness_policy=DAILY_FRESHNESS,
        metadata=table_metadata(name),
        ins={"ad_accounts": dg.AssetIn()},
        # Lineage shows the hierarchy account → campaign → ad set → ad.
        deps=[parent] if parent != "ad_accounts" else [],
    )
    def _object_asset(
        context: dg.AssetExecutionContext,
        facebook: FacebookAdsResource,
        ad_accounts: pd.DataFrame,
    ) -> pd.DataFrame:
        account_id = context.partition_key
        currency = account_currency(ad_accounts, account_id)
        client = facebook.get_client()
        rows = client.list_objects(account_id, edge, OBJECT_FIELDS[edge], include_deleted=True)
        frame = to_frame(rows, account_id=account_id, currency=currency, fetched_at=utc_now())

        statuses = frame["status"].value_counts().to_dict() if "status" in frame else {}
        context.log.info(
            f"Account {account_id}: {len(frame)} {name} ({statuses}); "
            f"{client.stats.total_calls} API calls."
        )
        context.add_output_metadata(
            {
                "rows": len(frame),
                **{f"status/{k}": int(v) for k, v in statuses.items()},
                "preview": preview(frame),
                **cost_metadata(client),
            }
        )
        return frame

    return _object_asset


campaigns = build_object_asset(
    "campaigns",
    "campaigns",
    campaigns_frame,
    "Campaigns per account, archived and deleted included: objective, statuses, budgets.",
    parent="ad_accounts",
)
ad_sets = build_object_asset(
    "ad_sets",
    "adsets",
    ad_sets_frame,
    "Ad sets per account: optimisation goal, bid strategy, budgets, attribution setting.",
    parent="campaigns",
)
ads = build_object_asset(
    "ads",
    "ads",
    ads_frame,
    "Ads per account with their ad set, campaign and creative; deleted ads included.",
    parent="ad_sets",
)
ad_creatives = build_object_asset(
    "ad_creatives",
    "adcreatives",
    ad_creatives_frame,
    "Creatives per account: headline, text, image and call to action.",
    parent="ad_accounts",
)

OBJECT_ASSETS = [campaigns, ad_sets, ads, ad_creatives]
