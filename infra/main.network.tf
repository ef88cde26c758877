# VNet for AKS and the AzureML training cluster; private endpoints and their DNS zones when
# var.enable_private_endpoints is true.

resource "azurerm_virtual_network" "main" {
  name                = "vnet-${local.base_name}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  address_space       = [var.vnet_address_space]
  tags                = local.tags
}

resource "azurerm_subnet" "main" {
  for_each = local.subnet_cidrs

  name                              = "snet-${each.key}"
  resource_group_name               = azurerm_resource_group.main.name
  virtual_network_name              = azurerm_virtual_network.main.name
  address_prefixes                  = [each.value]
  private_endpoint_network_policies = each.key == "private" ? "Enabled" : "Disabled"
  service_endpoints                 = each.key == "ml" ? ["Microsoft.Storage", "Microsoft.KeyVault", "Microsoft.ContainerRegistry"] : []

  dynamic "delegation" {
    for_each = contains(keys(local.subnet_delegations), each.key) ? [local.subnet_delegations[each.key]] : []
    content {
      name = "delegation"
      service_delegation {
        name    = delegation.value
        actions = ["Microsoft.Network/virtualNetworks/subnets/action"]
      }
    }
  }
}

resource "azurerm_network_security_group" "main" {
  for_each = local.subnet_cidrs

  name                = "nsg-${local.base_name}-${each.key}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_subnet_network_security_group_association" "main" {
  for_each = local.subnet_cidrs

  subnet_id                 = azurerm_subnet.main[each.key].id
  network_security_group_id = azurerm_network_security_group.main[each.key].id
}

locals {
  private_dns_zone_names = {
    vault     = "privatelink.vaultcore.azure.net"
    blob      = "privatelink.blob.core.windows.net"
    queue     = "privatelink.queue.core.windows.net"
    table     = "privatelink.table.core.windows.net"
    dfs       = "privatelink.dfs.core.windows.net"
    file      = "privatelink.file.core.windows.net"
    registry  = "privatelink.azurecr.io"
    amlapi    = "privatelink.api.azureml.ms"
    amlnotebk = "privatelink.notebooks.azure.net"
    redis     = "privatelink.redis.cache.windows.net"
    eventhubs = "privatelink.servicebus.windows.net"
    sites     = "privatelink.azurewebsites.net"
  }

  # One private endpoint per (resource, sub-resource); keys are static so for_each plans cleanly.
  private_endpoint_catalog = {
    keyvault         = { resource_id = azurerm_key_vault.main.id, subresource = "vault", zones = ["vault"] }
    workspace-blob   = { resource_id = azurerm_storage_account.workspace.id, subresource = "blob", zones = ["blob"] }
    workspace-file   = { resource_id = azurerm_storage_account.workspace.id, subresource = "file", zones = ["file"] }
    features-dfs     = { resource_id = azurerm_storage_account.features.id, subresource = "dfs", zones = ["dfs"] }
    features-blob    = { resource_id = azurerm_storage_account.features.id, subresource = "blob", zones = ["blob"] }
    checkpoints-blob = { resource_id = azurerm_storage_account.checkpoints.id, subresource = "blob", zones = ["blob"] }
    functions-blob   = { resource_id = azurerm_storage_account.functions.id, subresource = "blob", zones = ["blob"] }
    # The Functions host keeps keys and timer leases in blobs and may use queues and tables
    # (AzureWebJobsStorage): all three behind private endpoints, reached through VNet integration.
    functions-queue = { resource_id = azurerm_storage_account.functions.id, subresource = "queue", zones = ["queue"] }
    functions-table = { resource_id = azurerm_storage_account.functions.id, subresource = "table", zones = ["table"] }
    registry        = { resource_id = azurerm_container_registry.main.id, subresource = "registry", zones = ["registry"] }
    workspace       = { resource_id = azurerm_machine_learning_workspace.main.id, subresource = "amlworkspace", zones = ["amlapi", "amlnotebk"] }
    redis           = { resource_id = azurerm_redis_cache.main.id, subresource = "redisCache", zones = ["redis"] }
    eventhubs       = { resource_id = azurerm_eventhub_namespace.main.id, subresource = "namespace", zones = ["eventhubs"] }
    function-app    = { resource_id = azurerm_linux_function_app.retrain.id, subresource = "sites", zones = ["sites"] }
  }
  # A `for ... if` filter, not `cond ? {...} : {}`, whose branches would not unify to one type.
  private_endpoints = { for key, endpoint in local.private_endpoint_catalog : key => endpoint if var.enable_private_endpoints }
}

resource "azurerm_private_dns_zone" "main" {
  for_each = { for key, zone in local.private_dns_zone_names : key => zone if var.enable_private_endpoints }

  name                = each.value
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "main" {
  for_each = azurerm_private_dns_zone.main

  name                  = "link-${each.key}"
  resource_group_name   = azurerm_resource_group.main.name
  private_dns_zone_name = each.value.name
  virtual_network_id    = azurerm_virtual_network.main.id
  registration_enabled  = false
  tags                  = local.tags
}

resource "azurerm_private_endpoint" "main" {
  for_each = local.private_endpoints

  name                = "pe-${local.base_name}-${each.key}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  subnet_id           = azurerm_subnet.main["private"].id
  tags                = local.tags

  private_service_connection {
    name                           = "psc-${each.key}"
    private_connection_resource_id = each.value.resource_id
    subresource_names              = [each.value.subresource]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "default"
    private_dns_zone_ids = [for zone in each.value.zones : azurerm_private_dns_zone.main[zone].id]
  }
}
