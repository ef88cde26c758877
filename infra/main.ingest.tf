# Ingest workers (ingest/, the chart's ingest Deployment): their workload identity and what it may
# touch, and the storage account of their Event Hubs checkpoints.
#
# Data path: devices and the facade publish to the telemetry hub (partition key machine_id); the
# workers (consumer group azurerm_eventhub_consumer_group.ingest) write hourly windows to Redis and
# to the offline-features file system on the ADLS Gen2 account, which the AzureML datastore
# `predmaint` (main.ml.tf) exposes to the pipeline's prepare step.

resource "azurerm_user_assigned_identity" "ingest" {
  name                = "id-${local.base_name}-ingest"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_federated_identity_credential" "ingest" {
  name                      = "aks-${var.app_namespace}-${var.app_service_account}-ingest"
  user_assigned_identity_id = azurerm_user_assigned_identity.ingest.id
  audience                  = ["api://AzureADTokenExchange"]
  issuer                    = azurerm_kubernetes_cluster.main.oidc_issuer_url
  subject                   = local.ingest_subject
}

# KEDA's operator reads the consumer lag (partition properties from Event Hubs, checkpoints from the
# checkpoint container) as the identity the chart's TriggerAuthentication names (podIdentity.identityId
# = ingest.clientId, this identity), so KEDA's ServiceAccount must be federated with it too
# (keda.sh, Azure AD Workload Identity, "Considerations about Federations and Overrides"; AKS docs,
# "Securely scale your applications using the KEDA add-on and workload identity"). The roles it needs,
# Azure Event Hubs Data Receiver and Storage Blob Data Reader, are the workers' below (Contributor on
# the container includes Reader).
resource "azurerm_federated_identity_credential" "ingest_keda" {
  name                      = "aks-kube-system-keda-operator"
  user_assigned_identity_id = azurerm_user_assigned_identity.ingest.id
  audience                  = ["api://AzureADTokenExchange"]
  issuer                    = azurerm_kubernetes_cluster.main.oidc_issuer_url
  subject                   = local.keda_operator_subject
}

# Checkpoints live in an account of their own: Event Hubs' checkpoint store needs hierarchical
# namespace, blob soft delete and versioning off, and an account used for nothing else
# (learn.microsoft.com/azure/event-hubs/troubleshoot-checkpoint-store-issues). Losing a checkpoint
# costs a replay, never data: the duplicate rule makes a replay idempotent.
resource "azurerm_storage_account" "checkpoints" {
  #checkov:skip=CKV2_AZURE_38:Blob soft delete must be off for the Event Hubs checkpoint store (see above)
  name                            = "st${local.compact_name}ck"
  location                        = azurerm_resource_group.main.location
  resource_group_name             = azurerm_resource_group.main.name
  account_tier                    = "Standard"
  account_replication_type        = "GRS"
  account_kind                    = "StorageV2"
  is_hns_enabled                  = false
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
  shared_access_key_enabled       = false
  public_network_access_enabled   = var.enable_private_endpoints ? false : true
  local_user_enabled              = false
  tags                            = local.tags

  sas_policy {
    expiration_period = "01.00:00:00"
  }

  network_rules {
    default_action = var.enable_private_endpoints ? "Deny" : "Allow"
    bypass         = ["AzureServices"]
  }
}

resource "azurerm_role_assignment" "deployer_checkpoints_owner" {
  scope                = azurerm_storage_account.checkpoints.id
  role_definition_name = "Storage Blob Data Owner"
  principal_id         = data.azurerm_client_config.current.object_id
}

resource "azurerm_storage_container" "ingest_checkpoints" {
  #checkov:skip=CKV2_AZURE_21:Blob reads are logged by azurerm_monitor_diagnostic_setting.storage_blob["checkpoints"] (Log Analytics); the check looks for classic Storage Analytics logging only
  name                  = local.ingest_checkpoint_container
  storage_account_id    = azurerm_storage_account.checkpoints.id
  container_access_type = "private"

  depends_on = [azurerm_role_assignment.deployer_checkpoints_owner]
}

# Read telemetry, and own partitions through blob checkpoints and ownership records.
resource "azurerm_role_assignment" "ingest_eventhub_receiver" {
  scope                = azurerm_eventhub.telemetry.id
  role_definition_name = "Azure Event Hubs Data Receiver"
  principal_id         = azurerm_user_assigned_identity.ingest.principal_id
}

resource "azurerm_role_assignment" "ingest_checkpoints" {
  scope                = azurerm_storage_container.ingest_checkpoints.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.ingest.principal_id
}

# Write the offline day files and the partitions' snapshots (ingest-state/) into the
# offline-features file system only.
resource "azurerm_role_assignment" "ingest_features" {
  scope                = "${azurerm_storage_account.features.id}/blobServices/default/containers/${azurerm_storage_data_lake_gen2_filesystem.offline_features.name}"
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.ingest.principal_id
}

# The Redis connection string, through the workers' own SecretProviderClass (the chart's
# <fullname>-ingest): the CSI driver reads Key Vault as the identity of the pod that mounts the class,
# and a synced Secret exists only while a pod mounts it, so the workers cannot lean on the facade's.
# Only that one secret: role assignments can be scoped to a single Key Vault secret.
resource "azurerm_role_assignment" "ingest_kv_redis_secret" {
  scope                = azurerm_key_vault_secret.redis_connection.resource_versionless_id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.ingest.principal_id
}
