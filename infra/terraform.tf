# Versions of Terraform and of the providers. `terraform init` (in the deploy workflow) writes
# .terraform.lock.hcl; commit it from the first successful init so every later run uses those hashes.
# Providers are pinned exactly: infra/checks/tf_schema.py checks every block against the schemas of
# these versions (the cdktn-provider-* packages in tools/validators/pyproject.toml), and
# tests/assets/test_terraform_schema.py fails when a pin and its schema package differ. Bump both.
terraform {
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "4.81.0"
    }
    azapi = {
      source  = "Azure/azapi"
      version = "2.13.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.9.1"
    }
  }

  # State lives in an Azure Storage container; the workflow passes the account, container and key
  # with `terraform init -backend-config=...` (see README, section Deployment).
  backend "azurerm" {
    use_azuread_auth = true
    use_oidc         = true
  }
}
