variable "location" {
  type        = string
  default     = "westus2"
  description = <<-EOT
    Azure region for every resource. West US 2 by default: it offers AKS availability zones,
    AzureML, Azure Monitor workspaces and Premium Container Registry.
  EOT

  validation {
    condition     = can(regex("^[a-z]+[a-z0-9]*$", var.location))
    error_message = "location must be a region name in lower case without spaces, e.g. westus2."
  }
}

variable "name_prefix" {
  type        = string
  default     = "predmaint"
  description = <<-EOT
    Short prefix for every resource name (letters and digits, 3-10 characters). Names that must be
    globally unique (storage, Key Vault, registry, Function App) also get a random 6-character suffix kept
    in the state.
  EOT

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,9}$", var.name_prefix))
    error_message = "name_prefix must be 3-10 lower-case letters or digits and start with a letter."
  }
}

variable "environment" {
  type        = string
  default     = "prod"
  description = <<-EOT
    Deployment stage: dev, test or prod. Part of every name and of the tags.
  EOT

  validation {
    condition     = contains(["dev", "test", "prod"], var.environment)
    error_message = "environment must be one of dev, test, prod."
  }
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = <<-EOT
    Extra tags merged into the tags that every resource carries (project, environment, managed-by).
  EOT

  validation {
    condition     = alltrue([for key, value in var.tags : length(key) <= 512 && length(value) <= 256])
    error_message = "Tag names are at most 512 characters and values at most 256."
  }
}

variable "enable_private_endpoints" {
  type        = bool
  default     = true
  description = <<-EOT
    When true, Key Vault, the storage accounts, the registry, the AzureML workspace, Redis and Event
    Hubs are reached only through private endpoints in the VNet (public network access off), and the
    AKS API server is private. The deploy workflow then needs a runner inside the VNet (set the
    repository variable DEPLOY_RUNNER). Set false for a throw-away dev environment.
  EOT
}

variable "vnet_address_space" {
  type        = string
  default     = "10.40.0.0/16"
  description = <<-EOT
    Address space of the VNet. Subnets: AKS nodes (/20), private endpoints (/24), AzureML compute (/24).
  EOT

  validation {
    condition     = can(cidrhost(var.vnet_address_space, 0)) && tonumber(split("/", var.vnet_address_space)[1]) <= 16
    error_message = "vnet_address_space must be an IPv4 CIDR block of /16 or larger."
  }
}

variable "kubernetes_version" {
  type        = string
  default     = "1.36"
  description = <<-EOT
    AKS control plane version (major.minor, a GA minor AKS supports: 1.36 is GA from June 2026 to its
    end of life in June 2027 on the AKS release calendar). The chart is validated against the same
    minor (tools/validators/runners.py KUBERNETES_VERSION; tests/assets/test_helm_chart.py checks both).
  EOT

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.36."
  }
}

variable "aks_system_vm_size" {
  type        = string
  default     = "Standard_D4ds_v5"
  description = <<-EOT
    VM size of the system node pool (critical add-ons only). Needs a local temp disk for the
    ephemeral OS disk.
  EOT

  validation {
    condition     = can(regex("^Standard_[A-Za-z0-9_]+$", var.aks_system_vm_size))
    error_message = "aks_system_vm_size must be an Azure VM size such as Standard_D4ds_v5."
  }
}

variable "aks_workload_vm_size" {
  type        = string
  default     = "Standard_D4ds_v5"
  description = <<-EOT
    VM size of the workload node pool that runs the facade Pod and the AzureML inference deployments.
  EOT

  validation {
    condition     = can(regex("^Standard_[A-Za-z0-9_]+$", var.aks_workload_vm_size))
    error_message = "aks_workload_vm_size must be an Azure VM size such as Standard_D4ds_v5."
  }
}

variable "aks_workload_node_count" {
  type = object({
    min = number
    max = number
  })
  default     = { min = 2, max = 6 }
  description = <<-EOT
    Autoscaler bounds of the workload node pool. The PodDisruptionBudget and the blue/green endpoint
    need at least two nodes.
  EOT

  validation {
    condition     = var.aks_workload_node_count.min >= 1 && var.aks_workload_node_count.max >= var.aks_workload_node_count.min && var.aks_workload_node_count.max <= 100
    error_message = "aks_workload_node_count needs 1 <= min <= max <= 100."
  }
}

variable "aks_admin_group_object_ids" {
  type        = list(string)
  default     = []
  description = <<-EOT
    Entra ID group object IDs that become cluster admins (Azure RBAC for Kubernetes). The deploying
    principal also gets "Azure Kubernetes Service RBAC Cluster Admin" on the cluster.
  EOT

  validation {
    condition     = alltrue([for id in var.aks_admin_group_object_ids : can(regex("^[0-9a-f-]{36}$", id))])
    error_message = "Every aks_admin_group_object_ids entry must be a GUID."
  }
}

variable "aks_authorized_ip_ranges" {
  type        = list(string)
  default     = []
  description = <<-EOT
    CIDR ranges allowed to reach a public AKS API server (ignored when enable_private_endpoints is
    true, since the API server is then private). When set, include the AzureML control plane's
    ranges (service tag AzureMachineLearning of the region and of its paired region): AzureML
    deploys endpoints through the API server.
  EOT

  validation {
    condition     = alltrue([for cidr in var.aks_authorized_ip_ranges : can(cidrhost(cidr, 0))])
    error_message = "Every aks_authorized_ip_ranges entry must be a CIDR block."
  }
}

variable "train_vm_size" {
  type        = string
  default     = "Standard_DS3_v2"
  description = <<-EOT
    VM size of the AzureML training compute cluster (IsolationForest training is CPU only).
  EOT

  validation {
    condition     = can(regex("^Standard_[A-Za-z0-9_]+$", var.train_vm_size))
    error_message = "train_vm_size must be an Azure VM size such as Standard_DS3_v2."
  }
}

variable "train_max_nodes" {
  type        = number
  default     = 2
  description = <<-EOT
    Maximum nodes of the training cluster. The minimum is always 0 so it costs nothing when idle.
  EOT

  validation {
    condition     = var.train_max_nodes >= 1 && var.train_max_nodes <= 20
    error_message = "train_max_nodes must be between 1 and 20."
  }
}

variable "app_namespace" {
  type        = string
  default     = "pred-maint"
  description = <<-EOT
    Kubernetes namespace of the Helm release (facade + drift sidecar). Part of the federated
    credential's subject, so it must match `helm upgrade --namespace`.
  EOT

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.app_namespace))
    error_message = "app_namespace must be a DNS-1123 label."
  }
}

variable "app_service_account" {
  type        = string
  default     = "pred-maint"
  description = <<-EOT
    Name of the chart's ServiceAccount (values `serviceAccount.name`). Part of the federated
    credential's subject.
  EOT

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.app_service_account))
    error_message = "app_service_account must be a DNS-1123 label."
  }
}

variable "aml_kubernetes_namespace" {
  type        = string
  default     = "azureml-workloads"
  description = <<-EOT
    Namespace on AKS where AzureML runs the Kubernetes online endpoint deployments.
  EOT

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.aml_kubernetes_namespace))
    error_message = "aml_kubernetes_namespace must be a DNS-1123 label."
  }
}

variable "aml_kubernetes_compute_name" {
  type        = string
  default     = "aks-inference"
  description = <<-EOT
    Name of the Kubernetes compute attached to the AzureML workspace; aml/endpoints/endpoint.yml
    refers to it as `compute: azureml:<name>`.
  EOT

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{1,15}$", var.aml_kubernetes_compute_name))
    error_message = "aml_kubernetes_compute_name must be 2-16 letters, digits or hyphens, starting with a letter."
  }
}

variable "redis_sku" {
  type = object({
    name     = string
    family   = string
    capacity = number
  })
  default     = { name = "Standard", family = "C", capacity = 1 }
  description = <<-EOT
    Azure Cache for Redis SKU for the Feast online store. Premium (family P) is needed for zone
    redundancy; Standard C1 is enough for a fleet of a few thousand machines.
  EOT

  validation {
    condition     = contains(["Basic", "Standard", "Premium"], var.redis_sku.name) && contains(["C", "P"], var.redis_sku.family)
    error_message = "redis_sku.name must be Basic, Standard or Premium and family C or P."
  }
}

variable "eventhub_partition_count" {
  type        = number
  default     = 4
  description = <<-EOT
    Partitions of the telemetry event hub (the ingest consumers scale up to this many).
  EOT

  validation {
    condition     = var.eventhub_partition_count >= 1 && var.eventhub_partition_count <= 32
    error_message = "eventhub_partition_count must be between 1 and 32."
  }
}

variable "log_retention_days" {
  type        = number
  default     = 30
  description = <<-EOT
    Retention of the Log Analytics workspace (and so of Application Insights), in days.
  EOT

  validation {
    condition     = var.log_retention_days >= 30 && var.log_retention_days <= 730
    error_message = "log_retention_days must be between 30 and 730."
  }
}

variable "drift_alert_rules_file" {
  type        = string
  default     = "../charts/pred-maint/files/drift-alert-rules.yaml"
  description = <<-EOT
    Path (relative to infra/) of the Prometheus rule group file that defines the drift alert. The
    same file feeds the chart's PrometheusRule and the local alert evaluator: one definition.
  EOT

  validation {
    condition     = can(regex("\\.ya?ml$", var.drift_alert_rules_file))
    error_message = "drift_alert_rules_file must be a YAML file."
  }
}

variable "retrain_function_name" {
  type        = string
  default     = "retrain"
  description = <<-EOT
    HTTP-triggered function in functions/ that the drift alert's action group calls
    (https://<app>/api/<name>?code=<function key>).
  EOT

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_-]{0,127}$", var.retrain_function_name))
    error_message = "retrain_function_name must be a function name (letters, digits, - and _)."
  }
}

variable "acr_replica_locations" {
  type        = list(string)
  default     = ["westus3"]
  description = <<-EOT
    Extra regions the container registry replicates to, so image pulls survive a regional outage.
    Use [] for a dev environment.
  EOT

  validation {
    condition     = !contains(var.acr_replica_locations, var.location)
    error_message = "acr_replica_locations must not contain the primary location."
  }
}

variable "grafana_major_version" {
  type        = string
  default     = "11"
  description = <<-EOT
    Grafana major version of Azure Managed Grafana. The dashboard in infra/dashboards is built with
    grafana-foundation-sdk's Grafana 11.6 models.
  EOT

  validation {
    condition     = contains(["11", "12"], var.grafana_major_version)
    error_message = "grafana_major_version must be 11 or 12."
  }
}

variable "grafana_zone_redundancy_enabled" {
  type        = bool
  default     = false
  description = <<-EOT
    Spread Azure Managed Grafana over availability zones (Standard SKU, region with zones; it
    cannot be changed after creation).
  EOT
}

variable "grafana_viewer_group_object_ids" {
  type        = list(string)
  default     = []
  description = <<-EOT
    Entra ID group object IDs whose members may view the dashboards (Grafana Viewer role).
  EOT

  validation {
    condition = alltrue([
      for id in var.grafana_viewer_group_object_ids :
      can(regex("^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", id))
    ])
    error_message = "grafana_viewer_group_object_ids must be object IDs (GUIDs)."
  }
}
