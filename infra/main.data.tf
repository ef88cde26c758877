# Data services: Azure Cache for Redis (Feast online store, TLS only) and Event Hubs (telemetry).

resource "azurerm_redis_cache" "main" {
  name                          = "redis-${local.compact_name}"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  sku_name                      = var.redis_sku.name
  family                        = var.redis_sku.family
  capacity                      = var.redis_sku.capacity
  non_ssl_port_enabled          = false
  minimum_tls_version           = "1.2"
  public_network_access_enabled = var.enable_private_endpoints ? false : true
  redis_version                 = "6"
  tags                          = local.tags

  redis_configuration {
    authentication_enabled = true
  }
}

resource "azurerm_eventhub_namespace" "main" {
  name                          = "evhns-${local.compact_name}"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  sku                           = "Standard"
  capacity                      = 1
  local_authentication_enabled  = false
  public_network_access_enabled = var.enable_private_endpoints ? false : true
  minimum_tls_version           = "1.2"
  tags                          = local.tags

  identity {
    type = "SystemAssigned"
  }
}

# namespace_id, not namespace_name + resource_group_name, which azurerm 5 removes.
resource "azurerm_eventhub" "telemetry" {
  name              = "telemetry"
  namespace_id      = azurerm_eventhub_namespace.main.id
  partition_count   = var.eventhub_partition_count
  message_retention = 1
}

resource "azurerm_eventhub_consumer_group" "ingest" {
  name                = "feature-ingest"
  namespace_name      = azurerm_eventhub_namespace.main.name
  eventhub_name       = azurerm_eventhub.telemetry.name
  resource_group_name = azurerm_resource_group.main.name
  user_metadata       = "The ingest workers (ingest/, chart ingest Deployment) read telemetry with this group."
}
