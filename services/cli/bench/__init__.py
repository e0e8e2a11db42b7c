"""`crisis bench`: the project's speed beside the raw limits of the same machine, measured in the same run.

Operations code: it drives the services from outside, as an operator's load would; no service imports it.
workload.py builds the events, servers.py starts what is measured, raw.py and project.py measure,
report.py turns rounds into medians and ratios, run.py puts the rounds together.
"""
