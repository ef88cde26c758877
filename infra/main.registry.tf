# Container registry for the facade, drift sidecar and training images (admin user disabled; AKS
# pulls with its kubelet identity, the workflow pushes with OIDC).

resource "azurerm_container_registry" "main" {
  name                          = "cr${local.compact_name}"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  sku                           = "Premium"
  admin_enabled                 = false
  public_network_access_enabled = var.enable_private_endpoints ? false : true
  network_rule_bypass_option    = "AzureServices"
  zone_redundancy_enabled       = true
  data_endpoint_enabled         = true
  anonymous_pull_enabled        = false
  retention_policy_in_days      = 7
  trust_policy_enabled          = true
  quarantine_policy_enabled     = false
  tags                          = local.tags

  dynamic "georeplications" {
    for_each = var.acr_replica_locations
    content {
      location                = georeplications.value
      zone_redundancy_enabled = true
      tags                    = local.tags
    }
  }
}
