# Outputs read by .github/workflows/deploy.yml (`terraform output -raw NAME`) and by the chart's
# values (serviceAccount.clientId, keyVault.*).

output "resource_group_name" {
  description = "Resource group of every resource."
  value       = azurerm_resource_group.main.name
}

output "location" {
  description = "Region of the deployment."
  value       = azurerm_resource_group.main.location
}

output "aks_cluster_name" {
  description = "AKS cluster name, for `az aks get-credentials`."
  value       = azurerm_kubernetes_cluster.main.name
}

output "aks_oidc_issuer_url" {
  description = "OIDC issuer of the cluster (federated credentials)."
  value       = azurerm_kubernetes_cluster.main.oidc_issuer_url
}

output "acr_name" {
  description = "Container registry name, for `az acr login`."
  value       = azurerm_container_registry.main.name
}

output "acr_login_server" {
  description = "Registry host the chart's image repositories start with."
  value       = azurerm_container_registry.main.login_server
}

output "aml_workspace_name" {
  description = "AzureML workspace, for `az ml ... --workspace-name`."
  value       = azurerm_machine_learning_workspace.main.name
}

output "mlflow_tracking_uri" {
  description = "MLflow tracking/registry URI of the workspace: chart values SCORING_TRACKING_URI and DRIFT_TRACKING_URI."
  value       = "azureml://${azurerm_resource_group.main.location}.api.azureml.ms/mlflow/v1.0${azurerm_machine_learning_workspace.main.id}"
}

output "aml_training_compute_name" {
  description = "Training compute cluster referenced by the pipeline (`azureml:<name>`)."
  value       = azurerm_machine_learning_compute_cluster.train.name
}

output "aml_kubernetes_compute_name" {
  description = "Kubernetes compute referenced by aml/endpoints/endpoint.yml."
  value       = azapi_resource.aks_compute.name
}

output "facade_client_id" {
  description = "Client ID of the facade's workload identity: chart value serviceAccount.clientId."
  value       = azurerm_user_assigned_identity.facade.client_id
}

output "tenant_id" {
  description = "Entra ID tenant: chart value keyVault.tenantId."
  value       = data.azurerm_client_config.current.tenant_id
}

output "key_vault_name" {
  description = "Key Vault holding the Redis connection string: chart value keyVault.name."
  value       = azurerm_key_vault.main.name
}

output "redis_secret_name" {
  description = "Key Vault secret name of the Redis connection string."
  value       = azurerm_key_vault_secret.redis_connection.name
}

output "redis_hostname" {
  description = "Azure Cache for Redis host (TLS port 6380)."
  value       = azurerm_redis_cache.main.hostname
}

output "features_storage_account" {
  description = "ADLS Gen2 account of the offline features."
  value       = azurerm_storage_account.features.name
}

output "offline_features_url" {
  description = "abfss:// URL of the offline features container."
  value       = "abfss://${azurerm_storage_data_lake_gen2_filesystem.offline_features.name}@${azurerm_storage_account.features.name}.dfs.core.windows.net/"
}

output "eventhub_namespace" {
  description = "Event Hubs namespace FQDN for telemetry producers."
  value       = "${azurerm_eventhub_namespace.main.name}.servicebus.windows.net"
}

output "eventhub_name" {
  description = "Event hub that carries telemetry."
  value       = azurerm_eventhub.telemetry.name
}

output "function_app_name" {
  description = "Function App for `az functionapp deployment source config-zip`."
  value       = azurerm_linux_function_app.retrain.name
}

output "application_insights_connection_string" {
  description = "Application Insights connection string (azure-monitor-opentelemetry)."
  value       = azurerm_application_insights.main.connection_string
  sensitive   = true
}

output "monitor_workspace_query_endpoint" {
  description = "PromQL endpoint of the Azure Monitor workspace."
  value       = azurerm_monitor_workspace.main.query_endpoint
}

output "grafana_name" {
  description = "Azure Managed Grafana instance (`az grafana dashboard create --name`)."
  value       = azurerm_dashboard_grafana.main.name
}

output "grafana_endpoint" {
  description = "URL of Azure Managed Grafana (Entra ID sign-in)."
  value       = azurerm_dashboard_grafana.main.endpoint
}

output "ingest_client_id" {
  description = "Client ID of the ingest workers' workload identity: chart value ingest.clientId."
  value       = azurerm_user_assigned_identity.ingest.client_id
}

output "ingest_checkpoint_account_url" {
  description = "Blob endpoint of the workers' checkpoint account: chart value ingest.env.INGEST_CHECKPOINT_ACCOUNT_URL."
  value       = azurerm_storage_account.checkpoints.primary_blob_endpoint
}

output "offline_features_account_url" {
  description = "Blob endpoint of the ADLS Gen2 account of the offline features: chart value ingest.env.INGEST_OFFLINE_ACCOUNT_URL."
  value       = azurerm_storage_account.features.primary_blob_endpoint
}

output "eventhub_consumer_group" {
  description = "Consumer group of the ingest workers: chart value ingest.env.INGEST_CONSUMER_GROUP."
  value       = azurerm_eventhub_consumer_group.ingest.name
}

output "eventhub_partition_count" {
  description = "Partitions of the telemetry hub, the workers' replica ceiling: chart value ingest.partitionCount."
  value       = azurerm_eventhub.telemetry.partition_count
}

output "ingest_checkpoint_account" {
  description = "Name of the workers' checkpoint account (KEDA reads the lag there): chart value ingest.keda.checkpointStorageAccount."
  value       = azurerm_storage_account.checkpoints.name
}

output "ingest_checkpoint_container" {
  description = "Container of the workers' Event Hubs checkpoints: chart value ingest.env.INGEST_CHECKPOINT_CONTAINER."
  value       = azurerm_storage_container.ingest_checkpoints.name
}

output "offline_features_container" {
  description = "ADLS Gen2 file system of the offline day files: chart value ingest.env.INGEST_OFFLINE_CONTAINER."
  value       = azurerm_storage_data_lake_gen2_filesystem.offline_features.name
}
