# The retrain Function (functions/): Linux, Python 3.11, system-assigned identity, HTTPS only.
# The drift alert's action group calls it; it submits the AzureML training pipeline.
#
# Plan P1v3 is a Dedicated (App Service) plan: it supports a storage account reachable only through
# private endpoints, provided the app has regional VNet integration and routes all outbound traffic
# through it (virtual_network_subnet_id + vnet_route_all_enabled below). A Dedicated plan runs from
# the deployed package and uses no content file share, so WEBSITE_CONTENTSHARE and
# WEBSITE_CONTENTOVERVNET (Consumption/Elastic Premium settings) do not apply.

resource "azurerm_storage_account" "functions" {
  name                            = "st${local.compact_name}fn"
  location                        = azurerm_resource_group.main.location
  resource_group_name             = azurerm_resource_group.main.name
  account_tier                    = "Standard"
  account_replication_type        = "GRS"
  account_kind                    = "StorageV2"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
  shared_access_key_enabled       = false # a dedicated plan needs no content file share
  public_network_access_enabled   = var.enable_private_endpoints ? false : true
  local_user_enabled              = false
  tags                            = local.tags

  blob_properties {
    delete_retention_policy {
      days = 7
    }
    container_delete_retention_policy {
      days = 7
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

resource "azurerm_service_plan" "functions" {
  #checkov:skip=CKV_AZURE_212:One instance by design: the retrain trigger's cooldown and maxConcurrentRequests = 1 assume a single host (see worker_count)
  #checkov:skip=CKV_AZURE_225:Zone redundancy needs two or more instances; a missed alert is retried by the AzureML schedule
  name                = "asp-${local.base_name}-func"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  os_type             = "Linux"
  sku_name            = "P1v3" # dedicated: identity-only storage
  # One instance: the trigger's cooldown and host.json's maxConcurrentRequests = 1 assume a
  # single host (functions/retrain_trigger.py); more workers would start concurrent pipelines.
  worker_count           = 1
  zone_balancing_enabled = false # needs two or more instances
  tags                   = local.tags
}

resource "azurerm_linux_function_app" "retrain" {
  name                                     = "func-${local.compact_name}-retrain"
  location                                 = azurerm_resource_group.main.location
  resource_group_name                      = azurerm_resource_group.main.name
  service_plan_id                          = azurerm_service_plan.functions.id
  storage_account_name                     = azurerm_storage_account.functions.name
  storage_uses_managed_identity            = true
  https_only                               = true
  ftp_publish_basic_authentication_enabled = false
  public_network_access_enabled            = true # Azure Monitor action groups call the webhook from outside the VNet
  functions_extension_version              = "~4"
  # Outbound through the VNet: the private storage account, workspace and Key Vault resolve to their
  # private endpoints (the VNet's private DNS zones).
  virtual_network_subnet_id = azurerm_subnet.main["functions"].id
  tags                      = local.tags

  identity {
    type = "SystemAssigned"
  }

  site_config {
    always_on                              = true # dedicated plan: keeps the timer trigger running
    minimum_tls_version                    = "1.2"
    ftps_state                             = "Disabled"
    http2_enabled                          = true
    vnet_route_all_enabled                 = true
    application_insights_connection_string = azurerm_application_insights.main.connection_string

    application_stack {
      python_version = "3.11"
    }
  }

  app_settings = {
    # The schedule of the periodic drift check (NCRONTAB; read by the Functions host through the
    # timer's %RETRAIN_TIMER_SCHEDULE% binding, which needs the setting to exist), and where the
    # training pipeline is submitted: aml.submit.AzureMLSettings (AZUREML_*).
    RETRAIN_TIMER_SCHEDULE  = "0 */15 * * * *"
    AZUREML_SUBSCRIPTION_ID = data.azurerm_client_config.current.subscription_id
    AZUREML_RESOURCE_GROUP  = azurerm_resource_group.main.name
    AZUREML_WORKSPACE_NAME  = azurerm_machine_learning_workspace.main.name
    # Python v2 programming model: indexes decorated functions in function_app.py.
    AzureWebJobsFeatureFlags       = "EnableWorkerIndexing"
    FUNCTIONS_WORKER_PROCESS_COUNT = "1" # one Python worker process per host (one-instance design)
    SCM_DO_BUILD_DURING_DEPLOYMENT = "true"
  }
}

# Function keys, read after the app exists, for the action group's webhook URL.
data "azurerm_function_app_host_keys" "retrain" {
  name                = azurerm_linux_function_app.retrain.name
  resource_group_name = azurerm_resource_group.main.name
}

resource "azurerm_role_assignment" "function_storage_owner" {
  scope                = azurerm_storage_account.functions.id
  role_definition_name = "Storage Blob Data Owner"
  principal_id         = azurerm_linux_function_app.retrain.identity[0].principal_id
}
