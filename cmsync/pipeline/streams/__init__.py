"""The pollers, one module per source stream, and the reader they share.

Each reads its source from its own cursor, turns what it reads into signals (or figures) and
commits a page's states, outbox rows and advanced cursor in one transaction: ChartMogul's
activities and their late re-read (``activities``), failed and recovered payments
(``payments``), the customer sweep and the merged or deleted customers it finds
(``customers``, ``departed``), the first billing cycles (``cycles``), Salesforce's new
Contacts and converted Leads (``enrichment``, ``enrich_figures``) and the KPI reports
(``reports``, ``report_periods``). ``readahead`` fetches page n + 1 while page n is applied;
ChartMogul's feeds declare themselves as a ``runner.Stream`` and ``runner.run_stream`` drives
them.
"""
