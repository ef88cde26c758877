# The drift alert as an Azure Monitor managed Prometheus rule group. Its rules come from
# charts/pred-maint/files/drift-alert-rules.yaml (locals.tf), the single definition that the chart's
# PrometheusRule and the local alert evaluator also read.
#
# Kept alone in this file: checkov's HCL parser (bc-python-hcl2) cannot parse an attribute named
# `for`, so checkov reports this one file as a parsing error, which tests/assets/test_terraform.py
# tolerates for this file only. Terraform's own parser (terraform fmt) and python-hcl2 check it.

resource "azurerm_monitor_alert_prometheus_rule_group" "drift" {
  name                = "prg-${local.base_name}-drift"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  cluster_name        = azurerm_kubernetes_cluster.main.name
  description         = "Drift alert from charts/pred-maint/files/drift-alert-rules.yaml; fires the retrain action group."
  rule_group_enabled  = true
  interval            = upper("PT${try(local.drift_rule_groups[0].interval, "1m")}")
  scopes              = [azurerm_monitor_workspace.main.id, azurerm_kubernetes_cluster.main.id]
  tags                = local.tags

  dynamic "rule" {
    for_each = local.drift_rules

    content {
      alert      = rule.value.alert
      expression = rule.value.expr
      # Prometheus durations (10m, 1h30m) become ISO 8601 (PT10M, PT1H30M).
      for         = can(rule.value["for"]) ? upper("PT${rule.value["for"]}") : null
      severity    = lookup(local.alert_severity, try(rule.value.labels.severity, "warning"), 2)
      enabled     = true
      labels      = try(rule.value.labels, {})
      annotations = try(rule.value.annotations, {})

      # Only the sustained fleet-drift alert (label action=retrain) calls the retrain Function;
      # the faults and sidecar-down alerts show in Azure Monitor without starting a run.
      dynamic "action" {
        for_each = try(rule.value.labels.action, "") == "retrain" ? [1] : []

        content {
          action_group_id = azurerm_monitor_action_group.retrain.id
        }
      }

      alert_resolution {
        auto_resolved   = true
        time_to_resolve = "PT10M"
      }
    }
  }
}
