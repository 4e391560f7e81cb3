"""The Kafka client settings every peer gets (standard library only: the peers' venvs import it).

FETCH: the baseline's librdkafka setting (its 1s default backoff stalls a fast consumer whenever the
prefetch queue fills). GROUP: for the peers that join a consumer group (subscribe), a short session
timeout: Tansu answers the first JoinGroup only after about half the session timeout (23 s with
librdkafka's default 45 s, ~1.2 s with 2 s), a broker artefact that is not the framework's cost."""

FETCH = {"fetch.queue.backoff.ms": 20}
GROUP = {"session.timeout.ms": 2000, "heartbeat.interval.ms": 500}
