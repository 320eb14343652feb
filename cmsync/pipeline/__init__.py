"""The pipeline: the sync steps (``sync_pass``), the pollers (``streams``), the Closed-Won
deals (``closed_won``), the dispatcher (``dispatch``), and the glue they share: the org read
once per pass (``context``, ``org``, ``owners``), what every poller is handed
(``poll_context``), effects into outbox rows (``translate``), signals through the lifecycle
in one transaction (``apply``, ``accounts``, ``withdraw``, ``contain``) and reconciliation
(``reconcile``, ``reconcile_diff``)."""
