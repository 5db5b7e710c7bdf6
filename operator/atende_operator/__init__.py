"""The kopf operator that turns ``BotTenant`` resources into tenants (``atende operator``).

It lives in ``operator/atende_operator`` and is never a package named ``operator``, which would
shadow the standard library.
"""
