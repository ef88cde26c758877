# Entry point: the resource group and the caller's identity. Everything else is split by concern
# into main.<concern>.tf: network, monitoring, security (Key Vault), storage, registry, aks, ml,
# data (Redis, Event Hubs), functions, identity (workload identity and role assignments).

data "azurerm_client_config" "current" {}

resource "azurerm_resource_group" "main" {
  name     = "rg-${local.base_name}"
  location = var.location
  tags     = local.tags
}

# Suffix of the globally unique names (storage, Key Vault, registry, Redis, Function App).
resource "random_string" "suffix" {
  length  = 6
  special = false
  upper   = false
  numeric = true
}
