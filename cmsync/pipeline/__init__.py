"""The pipeline: pollers that turn source records into outbox rows, and the dispatcher."""
