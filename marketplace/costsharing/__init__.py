"""Cost-sharing services: a provider recovers the actual cost of a service from its participants."""
