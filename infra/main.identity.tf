# Identities and role assignments: AcrPull for the kubelet, the Function on the workspace, the
# facade's workload identity (user-assigned identity + federated credential for the chart's
# ServiceAccount) with Key Vault secret access and workspace access.

resource "azurerm_role_assignment" "kubelet_acr_pull" {
  scope                            = azurerm_container_registry.main.id
  role_definition_name             = "AcrPull"
  principal_id                     = azurerm_kubernetes_cluster.main.kubelet_identity[0].object_id
  skip_service_principal_aad_check = true
}

resource "azurerm_role_assignment" "deployer_aks_admin" {
  scope                = azurerm_kubernetes_cluster.main.id
  role_definition_name = "Azure Kubernetes Service RBAC Cluster Admin"
  principal_id         = data.azurerm_client_config.current.object_id
}

resource "azurerm_role_assignment" "function_workspace" {
  scope                = azurerm_machine_learning_workspace.main.id
  role_definition_name = "AzureML Data Scientist"
  principal_id         = azurerm_linux_function_app.retrain.identity[0].principal_id
}

resource "azurerm_user_assigned_identity" "facade" {
  name                = "id-${local.base_name}-facade"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

# user_assigned_identity_id, not the parent_id + resource_group_name pair, which azurerm 5 removes.
resource "azurerm_federated_identity_credential" "facade" {
  name                      = "aks-${var.app_namespace}-${var.app_service_account}"
  user_assigned_identity_id = azurerm_user_assigned_identity.facade.id
  audience                  = ["api://AzureADTokenExchange"]
  issuer                    = azurerm_kubernetes_cluster.main.oidc_issuer_url
  subject                   = local.facade_subject
}

resource "azurerm_role_assignment" "facade_kv_secrets_user" {
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.facade.principal_id
}

# Read the champion model from the workspace registry and call the online endpoint.
resource "azurerm_role_assignment" "facade_workspace" {
  scope                = azurerm_machine_learning_workspace.main.id
  role_definition_name = "AzureML Data Scientist"
  principal_id         = azurerm_user_assigned_identity.facade.principal_id
}

# POST /ingest publishes to Event Hubs (SCORING_INGEST_BACKEND=eventhubs); the ingest workers
# (main.ingest.tf) aggregate and write the features, so the facade holds no ingest state and needs
# no write access to the offline store.
resource "azurerm_role_assignment" "facade_eventhub_sender" {
  scope                = azurerm_eventhub.telemetry.id
  role_definition_name = "Azure Event Hubs Data Sender"
  principal_id         = azurerm_user_assigned_identity.facade.principal_id
}
