# AKS: OIDC issuer + workload identity, Entra ID auth with Azure RBAC, network policy, managed
# Prometheus metrics, Container Insights, Key Vault CSI driver.
#
# Local accounts stay enabled: the AzureML Kubernetes extension does not support AKS with local
# accounts disabled (AzureML docs, "Deploy Azure Machine Learning extension", Limitations). People and
# the workflow still sign in with Entra ID and Azure RBAC; nothing here fetches the local admin
# credential, and `az aks get-credentials --admin` needs the "Azure Kubernetes Service Cluster Admin
# Role" on the cluster, which only the admins have (README, section Deployment, local accounts).

resource "azurerm_kubernetes_cluster" "main" {
  #checkov:skip=CKV_AZURE_141:The AzureML Kubernetes extension does not support AKS with local accounts disabled; sign-in stays Entra ID with Azure RBAC (see the comment above)
  name                              = "aks-${local.base_name}"
  location                          = azurerm_resource_group.main.location
  resource_group_name               = azurerm_resource_group.main.name
  dns_prefix                        = local.base_name
  kubernetes_version                = var.kubernetes_version
  sku_tier                          = "Standard"
  automatic_upgrade_channel         = "patch"
  node_os_upgrade_channel           = "NodeImage"
  oidc_issuer_enabled               = true
  workload_identity_enabled         = true
  local_account_disabled            = false # the AzureML extension requires local accounts
  role_based_access_control_enabled = true
  azure_policy_enabled              = true
  private_cluster_enabled           = var.enable_private_endpoints
  tags                              = local.tags

  azure_active_directory_role_based_access_control {
    tenant_id              = data.azurerm_client_config.current.tenant_id
    azure_rbac_enabled     = true
    admin_group_object_ids = var.aks_admin_group_object_ids
  }

  dynamic "api_server_access_profile" {
    for_each = !var.enable_private_endpoints && length(var.aks_authorized_ip_ranges) > 0 ? [1] : []
    content {
      authorized_ip_ranges = var.aks_authorized_ip_ranges
    }
  }

  default_node_pool {
    name                         = "system"
    vm_size                      = var.aks_system_vm_size
    vnet_subnet_id               = azurerm_subnet.main["aks"].id
    only_critical_addons_enabled = true
    auto_scaling_enabled         = true
    min_count                    = 1
    max_count                    = 3
    max_pods                     = 50
    os_disk_type                 = "Ephemeral"
    os_disk_size_gb              = 64
    host_encryption_enabled      = true
    zones                        = ["1", "2", "3"]
    temporary_name_for_rotation  = "systemtmp"
    tags                         = local.tags

    upgrade_settings {
      max_surge = "33%"
    }
  }

  identity {
    type = "SystemAssigned"
  }

  network_profile {
    network_plugin      = "azure"
    network_plugin_mode = "overlay"
    network_data_plane  = "cilium"
    network_policy      = "cilium"
    load_balancer_sku   = "standard"
    pod_cidr            = "192.168.0.0/16"
    service_cidr        = "172.16.0.0/16"
    dns_service_ip      = "172.16.0.10"
  }

  # Azure Monitor managed Prometheus (metrics add-on); the DCR association in main.monitoring.tf
  # routes what it scrapes (including the chart's PodMonitor) to the Azure Monitor workspace.
  monitor_metrics {}

  oms_agent {
    log_analytics_workspace_id      = azurerm_log_analytics_workspace.main.id
    msi_auth_for_monitoring_enabled = true
  }

  key_vault_secrets_provider {
    secret_rotation_enabled  = true
    secret_rotation_interval = "2m"
  }

  # The KEDA add-on (operator kube-system/keda-operator): the chart's ingest ScaledObject scales the
  # workers on consumer lag (ingest.keda.enabled). Its operator reads the lag as the workers'
  # identity, federated with its ServiceAccount in main.ingest.tf (azurerm_federated_identity_credential.ingest_keda).
  workload_autoscaler_profile {
    keda_enabled = true
  }

  lifecycle {
    ignore_changes = [default_node_pool[0].node_count, kubernetes_version]
  }
}

resource "azurerm_kubernetes_cluster_node_pool" "workload" {
  name                    = "work"
  kubernetes_cluster_id   = azurerm_kubernetes_cluster.main.id
  mode                    = "User"
  vm_size                 = var.aks_workload_vm_size
  vnet_subnet_id          = azurerm_subnet.main["aks"].id
  auto_scaling_enabled    = true
  min_count               = var.aks_workload_node_count.min
  max_count               = var.aks_workload_node_count.max
  max_pods                = 50
  os_disk_type            = "Ephemeral"
  os_disk_size_gb         = 64
  host_encryption_enabled = true
  zones                   = ["1", "2", "3"]
  tags                    = local.tags

  upgrade_settings {
    max_surge = "33%"
  }

  lifecycle {
    ignore_changes = [node_count]
  }
}
