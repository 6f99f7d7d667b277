"""Support bundles: capture a failure once, hand over everything with no secret in it, re-read it anywhere.

`write.write_bundle` writes one (directory and optional zip), `read.load_bundle` reads
one back (what `replay` and `report --html` use), `telemetry` fetches the gateway's own
spans and policy metrics, `summary` writes SUMMARY.md.
"""
