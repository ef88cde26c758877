# AzureML: workspace (system-assigned identity), a CPU training cluster that scales to zero, the
# `predmaint` datastore on the offline features, the AzureML extension on AKS, the namespace its
# endpoints run in, and the Kubernetes compute attached to the workspace (azapi: azurerm has no
# resource for attaching a v2 Kubernetes compute, nor for an AKS namespace).

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
  # The registry is private in private mode, where AzureML's shared build service cannot push to it:
  # environment images are built on the training cluster inside the VNet instead.
  image_build_compute_name = local.training_compute_name
  sku_name                 = "Basic"
  tags                     = local.tags

  identity {
    type = "SystemAssigned"
  }

  managed_network {
    isolation_mode = var.enable_private_endpoints ? "AllowInternetOutbound" : "Disabled"
  }
}

# The offline features as the datastore that aml/pipelines/*.yml read
# (azureml://datastores/predmaint/paths/...). Identity-based: no key or secret is stored; a job reads
# with the identity it runs as (the training cluster's, or the submitter's), and the workspace's own
# identity serves previews in the studio. The roles are in local.ml_storage_roles below.
resource "azurerm_machine_learning_datastore_datalake_gen2" "predmaint" {
  name         = "predmaint"
  workspace_id = azurerm_machine_learning_workspace.main.id
  # The file system's ARM ID (blobServices/default/containers/<name>); the filesystem resource itself
  # only exports its data-plane URL.
  storage_container_id  = "${azurerm_storage_account.features.id}/blobServices/default/containers/${azurerm_storage_data_lake_gen2_filesystem.offline_features.name}"
  service_data_identity = "WorkspaceSystemAssignedIdentity"
  description           = "Offline features (Feast parquet day files) on ADLS Gen2, identity-based access."
  tags                  = local.tags
}

# The workspace identity reads the features for the datastore (service_data_identity above).
resource "azurerm_role_assignment" "workspace_features_contributor" {
  scope                = azurerm_storage_account.features.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_machine_learning_workspace.main.identity[0].principal_id
}

resource "azurerm_machine_learning_compute_cluster" "train" {
  name                          = local.training_compute_name
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

# Identity-based datastores: nobody holds a storage key, so every identity that reads or writes the
# workspace storage or the offline features needs a data role there:
# - the workspace and the training cluster (system datastores, job outputs, the predmaint datastore);
# - the deploying principal: `az ml ... create` uploads code, environments and data to the
#   workspace's blob store, and the first training job reads predmaint as its submitter;
# - the retrain Function: its job submission uploads the pipeline's code snapshot, and the job it
#   submits reads predmaint as its submitter;
# - the facade and the drift sidecar (workload identity): they download the champion model's
#   artifacts from the workspace's registry, which are blobs of the workspace storage.
locals {
  ml_storage_principals = {
    workspace = azurerm_machine_learning_workspace.main.identity[0].principal_id
    train     = azurerm_machine_learning_compute_cluster.train.identity[0].principal_id
    deployer  = data.azurerm_client_config.current.object_id
    function  = azurerm_linux_function_app.retrain.identity[0].principal_id
    facade    = azurerm_user_assigned_identity.facade.principal_id
  }
  ml_storage_scopes = {
    workspace = azurerm_storage_account.workspace.id
    features  = azurerm_storage_account.features.id
  }
  ml_storage_roles = {
    workspace-blob    = { scope = "workspace", role = "Storage Blob Data Contributor", principal = "workspace" }
    workspace-file    = { scope = "workspace", role = "Storage File Data Privileged Contributor", principal = "workspace" }
    train-blob        = { scope = "workspace", role = "Storage Blob Data Contributor", principal = "train" }
    train-features    = { scope = "features", role = "Storage Blob Data Contributor", principal = "train" }
    deployer-blob     = { scope = "workspace", role = "Storage Blob Data Contributor", principal = "deployer" }
    deployer-features = { scope = "features", role = "Storage Blob Data Reader", principal = "deployer" }
    function-blob     = { scope = "workspace", role = "Storage Blob Data Contributor", principal = "function" }
    function-features = { scope = "features", role = "Storage Blob Data Reader", principal = "function" }
    facade-blob       = { scope = "workspace", role = "Storage Blob Data Reader", principal = "facade" }
  }
}

resource "azurerm_role_assignment" "ml_storage" {
  for_each = local.ml_storage_roles

  scope                = local.ml_storage_scopes[each.value.scope]
  role_definition_name = each.value.role
  principal_id         = local.ml_storage_principals[each.value.principal]
}

# The deploying principal runs `az ml` (components, environments, jobs, endpoints) in the workspace.
resource "azurerm_role_assignment" "deployer_workspace" {
  scope                = azurerm_machine_learning_workspace.main.id
  role_definition_name = "AzureML Data Scientist"
  principal_id         = data.azurerm_client_config.current.object_id
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

# The namespace the Kubernetes compute deploys endpoints into must exist before the attach (AzureML
# docs, Kubernetes compute YAML `namespace`). An AKS managed namespace is an ARM resource
# (Microsoft.ContainerService/managedClusters/managedNamespaces, GA API 2025-09-01): Terraform creates
# it through ARM, so it works on a private API server and needs no Kubernetes credentials. Ingress
# from the AzureML inference router (namespace azureml) must be allowed, hence AllowAll.
resource "azapi_resource" "aml_namespace" {
  type      = "Microsoft.ContainerService/managedClusters/managedNamespaces@2025-09-01"
  name      = var.aml_kubernetes_namespace
  parent_id = azurerm_kubernetes_cluster.main.id
  location  = azurerm_resource_group.main.location
  tags      = local.tags

  body = {
    properties = {
      labels         = { "app.kubernetes.io/managed-by" = "terraform", "app.kubernetes.io/part-of" = "azure-pred-maint-ops" }
      adoptionPolicy = "IfIdentical"
      deletePolicy   = "Keep"
      defaultNetworkPolicy = {
        ingress = "AllowAll"
        egress  = "AllowAll"
      }
    }
  }
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

  depends_on = [azurerm_kubernetes_cluster_extension.azureml, azapi_resource.aml_namespace]
}
