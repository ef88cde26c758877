"""Offline checks of the Terraform configuration in infra/ (run by tests/assets and `make validate`)."""
