# Azure Managed Grafana on the Azure Monitor workspace that managed Prometheus writes to
# (main.monitoring.tf): the integration adds the workspace as a Prometheus data source, and
# Grafana's managed identity reads it. The dashboard (infra/dashboards/pred-maint.json, generated
# by infra/dashboards/pred_maint.py) has no azurerm/azapi resource: the deploy workflow's `grafana`
# job imports it with `az grafana dashboard create --overwrite`, as the deploying identity, which
# gets Grafana Admin here. Sign-in is Entra ID only (no API keys).

resource "azurerm_dashboard_grafana" "main" {
  name                              = "amg-${local.base_name}" # 2-23 characters: at most 19 here
  location                          = azurerm_resource_group.main.location
  resource_group_name               = azurerm_resource_group.main.name
  grafana_major_version             = var.grafana_major_version
  sku                               = "Standard"
  api_key_enabled                   = false
  deterministic_outbound_ip_enabled = false
  public_network_access_enabled     = var.enable_private_endpoints ? false : true
  zone_redundancy_enabled           = var.grafana_zone_redundancy_enabled
  tags                              = local.tags

  identity {
    type = "SystemAssigned"
  }

  azure_monitor_workspace_integrations {
    resource_id = azurerm_monitor_workspace.main.id
  }
}

# Grafana queries the workspace's Prometheus metrics as itself.
resource "azurerm_role_assignment" "grafana_monitoring_reader" {
  scope                            = azurerm_monitor_workspace.main.id
  role_definition_name             = "Monitoring Data Reader"
  principal_id                     = azurerm_dashboard_grafana.main.identity[0].principal_id
  skip_service_principal_aad_check = true
}

# The deploying identity (OIDC) provisions the dashboard; people get Grafana Viewer/Editor by group.
resource "azurerm_role_assignment" "deployer_grafana_admin" {
  scope                = azurerm_dashboard_grafana.main.id
  role_definition_name = "Grafana Admin"
  principal_id         = data.azurerm_client_config.current.object_id
}

resource "azurerm_role_assignment" "grafana_viewers" {
  for_each = toset(var.grafana_viewer_group_object_ids)

  scope                = azurerm_dashboard_grafana.main.id
  role_definition_name = "Grafana Viewer"
  principal_id         = each.value
  principal_type       = "Group"
}
