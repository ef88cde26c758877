# AzureML: workspace (system-assigned identity), a CPU training cluster that scales to zero, the
# AzureML extension on AKS and the Kubernetes compute attached to the workspace (azapi: azurerm has
# no resource for attaching a v2 Kubernetes compute).

resource "azurerm_machine_learning_workspace" "main" {
  name                          = "mlw-${local.base_name}"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  application_insights_id       = azurerm_application_insights.main.id
  key_vault_id                  = azurerm_key_vault.main.id
  storage_account_id            = azurerm_storage_account.workspace.id
  container_registry_id         = azurerm_container_registry.main.id
  public_network_access_enabled = var.enable_private_endpoints ? false : true
  v1_legacy_mode_enabled        = false
  storage_account_access_type   = "identity" # system datastores use identities: the account has no shared keys
  sku_name                      = "Basic"
  tags                          = local.tags

  identity {
    type = "SystemAssigned"
  }

  managed_network {
    isolation_mode = var.enable_private_endpoints ? "AllowInternetOutbound" : "Disabled"
  }
}

# Offline features as a workspace datastore is registered by the workflow (`az ml datastore create`);
# the workspace identity needs data access on the ADLS account for it.
resource "azurerm_role_assignment" "workspace_features_contributor" {
  scope                = azurerm_storage_account.features.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_machine_learning_workspace.main.identity[0].principal_id
}

resource "azurerm_machine_learning_compute_cluster" "train" {
  name                          = "cpu-train"
  location                      = azurerm_resource_group.main.location
  machine_learning_workspace_id = azurerm_machine_learning_workspace.main.id
  vm_size                       = var.train_vm_size
  vm_priority                   = "Dedicated"
  local_auth_enabled            = false
  ssh_public_access_enabled     = false
  node_public_ip_enabled        = var.enable_private_endpoints ? false : true
  subnet_resource_id            = azurerm_subnet.main["ml"].id
  description                   = "IsolationForest training (aml/pipelines/train.yml); 0 nodes when idle."
  tags                          = local.tags

  identity {
    type = "SystemAssigned"
  }

  scale_settings {
    min_node_count                       = 0
    max_node_count                       = var.train_max_nodes
    scale_down_nodes_after_idle_duration = "PT5M"
  }
}

# Identity-based datastores: the workspace and the training cluster reach the workspace storage
# (blobs and the file share) and the offline features with their own identities.
locals {
  ml_storage_roles = {
    workspace-blob = { scope = "workspace", role = "Storage Blob Data Contributor", principal = "workspace" }
    workspace-file = { scope = "workspace", role = "Storage File Data Privileged Contributor", principal = "workspace" }
    train-blob     = { scope = "workspace", role = "Storage Blob Data Contributor", principal = "train" }
    train-features = { scope = "features", role = "Storage Blob Data Contributor", principal = "train" }
  }
}

resource "azurerm_role_assignment" "ml_storage" {
  for_each = local.ml_storage_roles

  scope                = each.value.scope == "workspace" ? azurerm_storage_account.workspace.id : azurerm_storage_account.features.id
  role_definition_name = each.value.role
  principal_id         = each.value.principal == "workspace" ? azurerm_machine_learning_workspace.main.identity[0].principal_id : azurerm_machine_learning_compute_cluster.train.identity[0].principal_id
}

resource "azurerm_kubernetes_cluster_extension" "azureml" {
  name              = "azureml"
  cluster_id        = azurerm_kubernetes_cluster.main.id
  extension_type    = "Microsoft.AzureML.Kubernetes"
  release_train     = "stable"
  release_namespace = "azureml"

  configuration_settings = {
    enableTraining  = "False"
    enableInference = "True"
    # The facade calls the endpoint inside the VNet; the router sits behind an internal load balancer.
    inferenceRouterServiceType   = "LoadBalancer"
    internalLoadBalancerProvider = "azure"
    inferenceRouterHA            = "True"
    allowInsecureConnections     = "True"
    clusterPurpose               = "FastProd"
    installPromOp                = "False" # managed Prometheus scrapes the cluster instead
    installVolcano               = "False"
    installNvidiaDevicePlugin    = "False"
    installDcgmExporter          = "False"
  }

  depends_on = [azurerm_kubernetes_cluster_node_pool.workload]
}

resource "azapi_resource" "aks_compute" {
  type      = "Microsoft.MachineLearningServices/workspaces/computes@2024-10-01"
  name      = var.aml_kubernetes_compute_name
  parent_id = azurerm_machine_learning_workspace.main.id
  location  = azurerm_resource_group.main.location
  tags      = local.tags

  identity {
    type = "SystemAssigned"
  }

  body = {
    properties = {
      computeType      = "Kubernetes"
      resourceId       = azurerm_kubernetes_cluster.main.id
      computeLocation  = azurerm_resource_group.main.location
      description      = "AKS for the Kubernetes online endpoint (blue/green); see aml/endpoints/."
      disableLocalAuth = true
      properties = {
        namespace           = var.aml_kubernetes_namespace
        defaultInstanceType = "cpusmall"
        instanceTypes = {
          cpusmall = {
            nodeSelector = { "kubernetes.azure.com/mode" = "user" }
            resources = {
              requests = { cpu = "250m", memory = "512Mi" }
              limits   = { cpu = "1", memory = "1Gi" }
            }
          }
        }
      }
    }
  }

  response_export_values = ["properties.provisioningState"]

  depends_on = [azurerm_kubernetes_cluster_extension.azureml]
}
