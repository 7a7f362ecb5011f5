"""The catalogue: services offered by providers, their categories and price versions."""
