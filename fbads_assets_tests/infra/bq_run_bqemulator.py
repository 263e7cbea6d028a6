"""Starts bqemulator with one fix; arguments are bqemulator's own CLI.

google-cloud-bigquery sends the data part of a multipart load (every DataFrame under 5 MiB)
with the media type ``*/*``, which bqemulator 1.4.0 refuses with "multipart upload's second
part has unsupported Content-Type". Adding that type to the permitted list is all it takes.
"""

import sys

import bqemulator.api.routes.upload as upload

upload._PERMITTED_MEDIA_CONTENT_TYPES = (*upload._PERMITTED_MEDIA_CONTENT_TYPES, "*/*")

from bqemulator.cli import main  # noqa: E402  (must import after the patch)

sys.exit(main())
