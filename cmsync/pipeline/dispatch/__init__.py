"""The outbox sent: one dispatcher, an executor per target system.

``dispatcher`` drains the outbox (the Salesforce executor: claim, plan, write, settle);
``plan`` claims a window and plans its sObject Collections calls; ``settle`` gives each sent
row its fate (pure); ``closed_won_send`` is the ChartMogul executor; ``vanished`` follows
Accounts merged or deleted in Salesforce; ``field_problems`` turns values left out of writes
into problems; ``preview`` is the dry run's answer, planned as the dispatcher would.
"""
