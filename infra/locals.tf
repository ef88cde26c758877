locals {
  # Kept in state, so names stay the same across applies.
  suffix    = random_string.suffix.result
  base_name = "${var.name_prefix}-${var.environment}"
  # Globally unique names without hyphens (storage, registry) or with a length limit (Key Vault: 24).
  compact_name = "${var.name_prefix}${var.environment}${local.suffix}"

  tags = merge(var.tags, {
    project     = "azure-pred-maint-ops"
    environment = var.environment
    managed-by  = "terraform"
  })

  # Subnets carved out of the VNet address space.
  subnet_cidrs = {
    aks     = cidrsubnet(var.vnet_address_space, 4, 0)  # /20 for the nodes (pods use the overlay CIDR)
    private = cidrsubnet(var.vnet_address_space, 8, 16) # /24 for private endpoints
    ml      = cidrsubnet(var.vnet_address_space, 8, 17) # /24 for the AzureML training cluster
    # /26 delegated to App Service: the retrain Function's outbound VNet integration.
    functions = cidrsubnet(var.vnet_address_space, 10, 72)
  }
  # Subnets delegated to a service (VNet integration needs a subnet of its own).
  subnet_delegations = {
    functions = "Microsoft.Web/serverFarms"
  }

  # The training cluster; also the workspace's image build compute (a private registry cannot be
  # built into by AzureML's shared build service). aml/pipelines/*.yml refer to it as azureml:cpu-train.
  training_compute_name = "cpu-train"

  # Offline features (parquet written by the ingest path and read by the training pipeline).
  offline_features_container = "offline-features"

  # The drift alert: one definition shared with the chart's PrometheusRule and the local evaluator.
  drift_rule_groups = yamldecode(file("${path.module}/${var.drift_alert_rules_file}")).groups
  drift_rules = flatten([
    for group in local.drift_rule_groups : [
      for rule in group.rules : rule if can(rule.alert)
    ]
  ])
  # Prometheus severities to Azure Monitor's 0 (critical) .. 4 (verbose).
  alert_severity = {
    critical = 0
    error    = 1
    warning  = 2
    info     = 3
  }

  # Kubernetes identity that the facade Pod runs as (federated credential subject).
  facade_subject = "system:serviceaccount:${var.app_namespace}:${var.app_service_account}"
  # ... and the ingest workers (chart value ingest.serviceAccountName).
  ingest_subject = "system:serviceaccount:${var.app_namespace}:${var.app_service_account}-ingest"
  # ... and the KEDA add-on's operator, which scales the workers as their identity (main.ingest.tf).
  keda_operator_subject = "system:serviceaccount:kube-system:keda-operator"
  # Event Hubs checkpoints of the workers' consumer group (one container per group, Microsoft's advice).
  ingest_checkpoint_container = "ingest-checkpoints"
}
