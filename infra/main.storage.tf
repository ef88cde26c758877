# Storage: the AzureML workspace's default account, and an ADLS Gen2 (hierarchical namespace)
# account whose container holds the offline features (Feast parquet).

resource "azurerm_storage_account" "workspace" {
  name                            = "st${local.compact_name}ml"
  location                        = azurerm_resource_group.main.location
  resource_group_name             = azurerm_resource_group.main.name
  account_tier                    = "Standard"
  account_replication_type        = "GRS"
  account_kind                    = "StorageV2"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
  shared_access_key_enabled       = false
  public_network_access_enabled   = var.enable_private_endpoints ? false : true
  local_user_enabled              = false
  tags                            = local.tags

  blob_properties {
    delete_retention_policy {
      days = 14
    }
    container_delete_retention_policy {
      days = 14
    }
  }

  sas_policy {
    expiration_period = "01.00:00:00"
  }

  network_rules {
    default_action = var.enable_private_endpoints ? "Deny" : "Allow"
    bypass         = ["AzureServices"]
  }
}

resource "azurerm_storage_account" "features" {
  name                            = "st${local.compact_name}fs"
  location                        = azurerm_resource_group.main.location
  resource_group_name             = azurerm_resource_group.main.name
  account_tier                    = "Standard"
  account_replication_type        = "GRS"
  account_kind                    = "StorageV2"
  is_hns_enabled                  = true
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
  shared_access_key_enabled       = false
  public_network_access_enabled   = var.enable_private_endpoints ? false : true
  local_user_enabled              = false
  tags                            = local.tags

  blob_properties {
    delete_retention_policy {
      days = 14
    }
    container_delete_retention_policy {
      days = 14
    }
  }

  sas_policy {
    expiration_period = "01.00:00:00"
  }

  network_rules {
    default_action = var.enable_private_endpoints ? "Deny" : "Allow"
    bypass         = ["AzureServices"]
  }
}

# The deploying principal creates the ADLS Gen2 file system (a data-plane call with Entra ID).
resource "azurerm_role_assignment" "deployer_features_owner" {
  scope                = azurerm_storage_account.features.id
  role_definition_name = "Storage Blob Data Owner"
  principal_id         = data.azurerm_client_config.current.object_id
}

resource "azurerm_storage_data_lake_gen2_filesystem" "offline_features" {
  name               = local.offline_features_container
  storage_account_id = azurerm_storage_account.features.id

  depends_on = [azurerm_role_assignment.deployer_features_owner]
}

# Blob read/write/delete logs of the storage accounts go to Log Analytics.
resource "azurerm_monitor_diagnostic_setting" "storage_blob" {
  for_each = {
    workspace = azurerm_storage_account.workspace.id
    features  = azurerm_storage_account.features.id
    functions = azurerm_storage_account.functions.id
    # the ingest workers' Event Hubs checkpoints (main.ingest.tf)
    checkpoints = azurerm_storage_account.checkpoints.id
  }

  name                       = "diag-blob-${each.key}"
  target_resource_id         = "${each.value}/blobServices/default"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.main.id

  enabled_log {
    category = "StorageRead"
  }
  enabled_log {
    category = "StorageWrite"
  }
  enabled_log {
    category = "StorageDelete"
  }
}
