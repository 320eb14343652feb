"""One Closed-Won deal, from the Salesforce poll to its ChartMogul effect, and deals that unwind.

``poll`` reads won Opportunities and decides each deal; ``deal`` reads the row and builds the
ChartMogul bodies (pure); ``steps`` looks up the deal's customer and plan in ChartMogul;
``effect`` makes the deal's outbox row (target ChartMogul); ``unwound`` raises the imported
deals that left Closed Won. The dispatcher's ChartMogul executor
(``cmsync.pipeline.dispatch.closed_won_send``) sends the effect.
"""
