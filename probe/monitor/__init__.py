"""Synthetic monitoring: the probe on a schedule (`watch`), as a Prometheus target (`serve`),
and as CloudWatch metrics (EMF). Every front end here builds on `probe.engine.run_many` with
one long-lived `Context`, so connections and OAuth tokens are reused from cycle to cycle.
"""
