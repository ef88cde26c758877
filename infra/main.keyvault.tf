# Key Vault (RBAC authorization, purge protection). Holds the Redis connection string that the
# facade reads through the Secrets Store CSI driver with its workload identity.

resource "azurerm_key_vault" "main" {
  name                          = "kv-${local.compact_name}"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "standard"
  rbac_authorization_enabled    = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = 90
  public_network_access_enabled = var.enable_private_endpoints ? false : true
  tags                          = local.tags

  network_acls {
    bypass         = "AzureServices"
    default_action = var.enable_private_endpoints ? "Deny" : "Allow"
  }
}

# The deploying principal writes the secrets below.
resource "azurerm_role_assignment" "deployer_kv_secrets_officer" {
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

resource "azurerm_key_vault_secret" "redis_connection" {
  name         = "redis-connection-string"
  key_vault_id = azurerm_key_vault.main.id
  content_type = "text/plain; redis URL (rediss, port 6380)"
  # The key is base64 (+, / and =): percent-encode it, or a URL parser misreads the password.
  value = "rediss://:${urlencode(azurerm_redis_cache.main.primary_access_key)}@${azurerm_redis_cache.main.hostname}:${azurerm_redis_cache.main.ssl_port}/0"
  # Rotated with the Redis key; the date only satisfies the expiry policy and is not re-planned.
  expiration_date = timeadd(plantimestamp(), "8760h")
  tags            = local.tags

  lifecycle {
    ignore_changes = [expiration_date]
  }

  depends_on = [azurerm_role_assignment.deployer_kv_secrets_officer]
}

# API keys of the facade (SCORING_API_KEY) and the drift sidecar (DRIFT_API_KEY): generated here,
# read by the Pod through the CSI driver (chart keyVault.objects); callers get them from the vault.
resource "random_password" "api_key" {
  for_each = toset(["scoring", "drift"])
  length   = 48
  special  = false
}

resource "azurerm_key_vault_secret" "api_key" {
  for_each     = random_password.api_key
  name         = "${each.key}-api-key"
  key_vault_id = azurerm_key_vault.main.id
  content_type = "text/plain; API key (x-api-key or Authorization: Bearer)"
  value        = each.value.result
  # Rotated by replacing random_password; the date only satisfies the expiry policy.
  expiration_date = timeadd(plantimestamp(), "8760h")
  tags            = local.tags

  lifecycle {
    ignore_changes = [expiration_date]
  }

  depends_on = [azurerm_role_assignment.deployer_kv_secrets_officer]
}
