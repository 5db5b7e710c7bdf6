"""The panel's chat simulator: a person types as a customer and the real pipeline answers.

Its messages live on their own connection,
:data:`~services.core.tenants.spec.SIMULATOR_CONNECTION`, whose replies never leave Atende (the
sandbox channel), whatever the tenant's Whaticket is.
"""
