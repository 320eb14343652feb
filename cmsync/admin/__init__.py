"""The Salesforce admin kit: metadata to deploy, ``cmsync doctor``, and the systemd unit.

``metadata`` turns the field catalogue (``cmsync.salesforce.catalogue``), as the configured
field mapping renames it, into an SFDX project an admin deploys; ``doctor`` checks a live org
and ChartMogul account against the same requirements before the first sync; ``cli`` adds the
commands to the ``cmsync`` CLI.
"""
