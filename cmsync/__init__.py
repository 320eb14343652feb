"""cmsync: keeps ChartMogul and Salesforce in step."""

__version__ = "0.1.0"
