"""The HTTP face of the contract, as plain FastAPI: one router per family, the checks as dependencies."""
