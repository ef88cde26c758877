# Container registry for the facade, drift sidecar and training images (admin user disabled; AKS
# pulls with its kubelet identity, the workflow pushes with OIDC).
#
# No `trust_policy_enabled`: Docker Content Trust is deprecated on ACR and Azure rejects enabling it
# on new registries (ContentTrustUnsupported). Sign images with Notation (Notary Project) and a key in
# Key Vault instead, and verify them with Ratify on AKS (see README, section Deployment).

resource "azurerm_container_registry" "main" {
  #checkov:skip=CKV_AZURE_164:Content trust (trust_policy_enabled) is deprecated and rejected by Azure (ContentTrustUnsupported); images are signed with Notation instead (see above)
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
