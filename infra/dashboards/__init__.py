"""Grafana dashboards as code; the JSON beside each module is generated from it."""
