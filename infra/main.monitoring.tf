# Logs and metrics: Log Analytics + workspace-based Application Insights; Azure Monitor workspace
# with managed Prometheus collection from AKS; the action group that calls the retrain Function.
# The drift alert rule group itself is in main.alerts.tf.

resource "azurerm_log_analytics_workspace" "main" {
  name                = "log-${local.base_name}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = local.tags
}

resource "azurerm_application_insights" "main" {
  name                = "appi-${local.base_name}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  workspace_id        = azurerm_log_analytics_workspace.main.id
  application_type    = "web"
  tags                = local.tags
}

resource "azurerm_monitor_workspace" "main" {
  name                          = "amw-${local.base_name}"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  public_network_access_enabled = true # Grafana and the Azure portal query it; ingestion goes through the DCE
  tags                          = local.tags
}

resource "azurerm_monitor_data_collection_endpoint" "prometheus" {
  name                          = "dce-${local.base_name}-prom"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  kind                          = "Linux"
  public_network_access_enabled = true
  tags                          = local.tags
}

resource "azurerm_monitor_data_collection_rule" "prometheus" {
  name                        = "dcr-${local.base_name}-prom"
  location                    = azurerm_resource_group.main.location
  resource_group_name         = azurerm_resource_group.main.name
  data_collection_endpoint_id = azurerm_monitor_data_collection_endpoint.prometheus.id
  kind                        = "Linux"
  description                 = "Managed Prometheus scrape of AKS (PodMonitor of the pred-maint chart) into the Azure Monitor workspace."
  tags                        = local.tags

  destinations {
    monitor_account {
      monitor_account_id = azurerm_monitor_workspace.main.id
      name               = "MonitoringAccount1"
    }
  }

  data_flow {
    streams      = ["Microsoft-PrometheusMetrics"]
    destinations = ["MonitoringAccount1"]
  }

  data_sources {
    prometheus_forwarder {
      streams = ["Microsoft-PrometheusMetrics"]
      name    = "PrometheusDataSource"
    }
  }
}

resource "azurerm_monitor_data_collection_rule_association" "prometheus" {
  name                    = "dcra-${local.base_name}-prom"
  target_resource_id      = azurerm_kubernetes_cluster.main.id
  data_collection_rule_id = azurerm_monitor_data_collection_rule.prometheus.id
  description             = "Send AKS Prometheus metrics through the Prometheus DCR."
}

resource "azurerm_monitor_data_collection_rule_association" "prometheus_endpoint" {
  # The name is fixed by Azure for the cluster's configuration access endpoint.
  name                        = "configurationAccessEndpoint"
  target_resource_id          = azurerm_kubernetes_cluster.main.id
  data_collection_endpoint_id = azurerm_monitor_data_collection_endpoint.prometheus.id
}

resource "azurerm_monitor_action_group" "retrain" {
  name                = "ag-${local.base_name}-retrain"
  resource_group_name = azurerm_resource_group.main.name
  short_name          = "retrain"
  tags                = local.tags

  webhook_receiver {
    name                    = "retrain-function"
    service_uri             = "https://${azurerm_linux_function_app.retrain.default_hostname}/api/${var.retrain_function_name}?code=${data.azurerm_function_app_host_keys.retrain.default_function_key}"
    use_common_alert_schema = true
  }
}
