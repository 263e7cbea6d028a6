-- Daily spend and CTR by campaign: how much each campaign spent per day, and how often people
-- who saw its ads clicked.
--
-- Reads the mart, facebook_ads.facebook_ads_campaign_daily (one row per campaign and report
-- date; report dates are days in each ad account's time zone). CTR is recomputed from the
-- summed clicks and impressions, never averaged from daily ratios. Money is in each account's
-- currency: compare spend across accounts only when they share one.
--
-- Run: duckdb data/fbads.duckdb -readonly < analyses/daily_spend_ctr_by_campaign.sql
-- (BigQuery: the same SQL, with facebook_ads as your dataset.) Add a WHERE on report_date for
-- a shorter period.
SELECT
    report_date,
    account_id,
    campaign_id,
    campaign_name,
    currency,
    spend,
    impressions,
    clicks,
    CASE WHEN impressions > 0 THEN ROUND(100.0 * clicks / impressions, 4) END AS ctr_percent,
    CASE WHEN clicks > 0 THEN ROUND(spend / clicks, 4) END AS cpc
FROM facebook_ads.facebook_ads_campaign_daily
ORDER BY report_date DESC, spend DESC, campaign_id;
