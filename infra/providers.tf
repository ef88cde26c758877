provider "azurerm" {
  # Storage data-plane calls use Entra ID, so the storage accounts can disable shared keys.
  storage_use_azuread = true

  # Registered (if not yet) on top of the provider's default set: the AKS cluster extension (AzureML)
  # needs Microsoft.KubernetesConfiguration. The deploying principal needs permission to register
  # providers on the subscription (Contributor does). The EncryptionAtHost feature of Microsoft.Compute
  # cannot be registered this way: README, section Deployment, prerequisites.
  resource_providers_to_register = ["Microsoft.KubernetesConfiguration"]

  features {
    key_vault {
      # Purge protection is on: never try to purge a vault or its secrets on destroy.
      purge_soft_delete_on_destroy               = false
      purge_soft_deleted_secrets_on_destroy      = false
      recover_soft_deleted_key_vaults            = true
      recover_soft_deleted_secrets               = true
      purge_soft_deleted_keys_on_destroy         = false
      purge_soft_deleted_certificates_on_destroy = false
    }
    resource_group {
      prevent_deletion_if_contains_resources = true
    }
    machine_learning {
      purge_soft_deleted_workspace_on_destroy = false
    }
  }
}

provider "azapi" {}
