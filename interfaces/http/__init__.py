"""The REST API: one router per resource, wire models, problem+json errors, dependencies."""
