-- Attribution windows compared: how many conversions each campaign gets under each
-- attribution window, side by side, so you can see how much a longer click window or
-- view-through credit changes the picture.
--
-- Reads facebook_ads.ad_conversions_daily (long form: one row per ad, day, action type and
-- window). "default" is each ad set's own setting (usually 7d_click + 1d_view). Windows Meta
-- no longer serves (7d_view and 28d_view since January 2026) are absent, not zero. Windows do
-- not add up: a 7-day-click conversion is also counted in 28d_click, and a 1d_click one in
-- 7d_click. The ratios show how much of the 7-day-click credit arrives within a day, and how
-- much more 28 days adds.
--
-- Run: duckdb data/fbads.duckdb -readonly < analyses/attribution_windows_compared.sql
-- (BigQuery: the same SQL, with facebook_ads as your dataset.) Change the action types in the
-- WHERE clause to compare other actions.
WITH by_window AS (
    SELECT
        account_id,
        campaign_id,
        action_type,
        SUM(CASE WHEN attribution_window = 'default' THEN actions END) AS default_window,
        SUM(CASE WHEN attribution_window = '1d_click' THEN actions END) AS click_1d,
        SUM(CASE WHEN attribution_window = '7d_click' THEN actions END) AS click_7d,
        SUM(CASE WHEN attribution_window = '28d_click' THEN actions END) AS click_28d,
        SUM(CASE WHEN attribution_window = '1d_view' THEN actions END) AS view_1d,
        SUM(CASE WHEN attribution_window = '1d_ev' THEN actions END) AS engaged_view_1d
    FROM facebook_ads.ad_conversions_daily
    WHERE action_type IN ('purchase', 'lead')
    GROUP BY account_id, campaign_id, action_type
)
SELECT
    account_id,
    campaign_id,
    action_type,
    default_window,
    click_1d,
    click_7d,
    click_28d,
    view_1d,
    engaged_view_1d,
    CASE WHEN click_7d > 0 THEN ROUND(click_1d / click_7d, 4) END AS share_of_7d_click_in_1d,
    CASE WHEN click_7d > 0 THEN ROUND(click_28d / click_7d, 4) END AS click_28d_vs_7d
FROM by_window
ORDER BY account_id, campaign_id, action_type;
