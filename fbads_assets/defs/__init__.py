"""The Dagster asset graph: accounts → objects → insights → mart, checks and schedules."""

import warnings

import dagster as dg

# The graph relies on BackfillPolicy and MultiToSingleDimensionPartitionMapping, both marked
# beta in Dagster 1.13 and pinned in pyproject.toml; their warnings would repeat at every
# import in the demo, the UI's code-server log and every run, and tell the user nothing.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
