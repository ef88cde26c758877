"""Ingest workers: Event Hubs partitions in, hourly windows out (Redis online, ADLS Gen2 offline).

- :mod:`ingest.events`: event bodies <-> contract readings (one source for the wire format);
- :mod:`ingest.producer`: publishes readings with ``machine_id`` as the partition key (the facade's
  ``eventhubs`` ingest backend and ``predmaint simulate stream --eventhub``);
- :mod:`ingest.offline_blob`: the offline store's day files on blob storage (ADLS Gen2), a part per
  partition, each merged with optimistic concurrency;
- :mod:`ingest.partition`: one partition's aggregation state and its durable snapshot;
- :mod:`ingest.worker`: the Event Hubs handler (``predmaint ingest consume``) and its health endpoint.
"""
