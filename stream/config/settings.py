"""The settings models: topics, windows, detector thresholds, Kafka security, addresses."""

from __future__ import annotations

import ssl
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from stream.config.units import DurationListS, DurationS
from stream.core import tracking


class TopicSettings(BaseModel):
    """Kafka topic names. Every input topic is keyed by ``store_id``."""

    stores: str = "stores"
    orders: str = "orders"
    prices: str = "prices"
    refunds: str = "refunds"
    withdrawals: str = "withdrawals"
    alerts: str = "alerts"
    dead_letter: str = "storewatch-dead-letter"
    control: str = "storewatch-control"
    labels: str = "storewatch-labels"  # analysts' verdicts on alerts (compacted, by alert id)

    def input_topics(self) -> dict[str, str]:
        """Event type -> topic that carries it."""
        return {
            "store": self.stores,
            "order": self.orders,
            "price": self.prices,
            "refund": self.refunds,
            "withdrawal": self.withdrawals,
        }


class WindowSettings(BaseModel):
    """Sliding windows over event time, and how long state lives."""

    lengths_s: DurationListS = Field(default_factory=lambda: [3600.0, 86400.0, 604800.0])
    buckets_per_window: int = Field(24, ge=4, le=120)
    allowed_lateness_s: DurationS = 1800.0
    idle_store_ttl_s: DurationS = 30 * 86400.0
    # Cross-store facts (bank accounts, tracking numbers, claimants, rings): each expires this
    # long after its last touch and keeps at most fact_cap members, so a flood of distinct
    # accounts or parcels costs bounded memory. A fact must outlive the longest window it is
    # compared with, and a shared account seen a month apart should still link two stores.
    fact_ttl_s: DurationS = Field(30 * 86400.0, ge=60, le=365 * 86400)
    fact_cap: int = Field(32, ge=2, le=1000)
    # Tracking numbers share this many Redis hashes, so that one costs ~34 B, not a key of
    # its own (~111 B). A hash stays compact up to 128 entries: aim at about 64, i.e. the
    # tracking numbers shipped within fact_ttl_s / 64. The default suits ~130,000 numbers
    # (700 stores x 166 a month). A count far from the aim costs memory (too few: hashes too
    # big to stay compact; too many: a key per handful of numbers), never a detection.
    # Restart-only: a new count files numbers elsewhere and forgets those recorded before.
    trk_buckets: int = Field(tracking.DEFAULT_BUCKETS, ge=1, le=2**24)
    # Stores a worker keeps in memory (least recently used are dropped once saved, and read
    # back from Redis when they come again): about 28 KB each (tests/test_memory.py).
    stores_in_memory: int = Field(50_000, ge=100)

    @model_validator(mode="after")
    def _check(self) -> WindowSettings:
        if not self.lengths_s:
            raise ValueError("windows.lengths_s needs at least one window")
        for length_s in self.lengths_s:
            if not 60 <= length_s <= 30 * 86400:
                raise ValueError(f"window of {length_s:g}s must lie between 60s and 30d")
        if len(set(self.lengths_s)) != len(self.lengths_s):
            raise ValueError(f"windows.lengths_s has duplicates: {self.lengths_s}")
        if self.allowed_lateness_s >= min(self.lengths_s):
            raise ValueError(
                f"allowed lateness {self.allowed_lateness_s:g}s must be shorter than the shortest "
                f"window ({min(self.lengths_s):g}s): a later event would fall outside every window"
            )
        if self.idle_store_ttl_s < max(self.lengths_s):
            raise ValueError(
                f"idle store TTL {self.idle_store_ttl_s:g}s must be at least the longest window "
                f"({max(self.lengths_s):g}s)"
            )
        self.lengths_s = sorted(self.lengths_s)
        return self


class DetectorSettings(BaseModel):
    """How much evidence raises an alert, how much money must be at stake, and the models.

    Detectors add graded signals (``stream.core.evidence``); an alert needs their sum, scaled by
    how much money is at stake, to reach ``alert_evidence``. No signal has a cliff to tune:
    the ramps are in the detectors, written in the population's terms (shares, ratios, ages).
    """

    # The evidence an alert needs, and the evidence of a high-severity one.
    alert_evidence: float = Field(1.0, gt=0, le=10)
    high_evidence: float = Field(1.6, gt=0, le=20)
    # Evidence accumulates over an episode: a decision adds ``episode_carry`` times the
    # smaller of its own weighed evidence and the store's previous one for that detector,
    # which fades with ``episode_half_life_s``. A store that keeps deciding just under the line
    # crosses it; one odd decision among ordinary ones does not (the carry is bounded by the
    # decision's own evidence).
    episode_carry: float = Field(0.25, ge=0, le=1)
    episode_half_life_s: DurationS = Field(2 * 86400.0, ge=60)
    # Money below which a finding does not page anyone (CNY): evidence counts fully from
    # 30 times this stake, 40% at it, and the stake weight grows on a log scale between.
    min_stake_cny: float = Field(300.0, ge=0)
    # A model alerts by itself when a decision is rarer than this share of the population
    # (and at least model_min_stake_cny is at stake); rarer than model_evidence_tail it adds
    # evidence to the rules'.
    model_alert_tail: float = Field(0.002, gt=0, lt=0.5)
    model_evidence_tail: float = Field(0.02, gt=0, lt=1)
    model_min_stake_cny: float = Field(2000.0, ge=0)
    model_trees: int = Field(10, ge=1, le=50)
    model_height: int = Field(8, ge=2, le=16)
    model_window_size: int = Field(250, ge=10, le=10_000)
    model_seed: int = 42
    # The population the models describe: scores older than this count half. A tail can only
    # be as fine as the decisions it holds (about rate x half-life / ln 2): at 100 withdrawals
    # a day, a week's half-life gives ~1,000, enough to tell 1 in 500.
    model_half_life_s: DurationS = Field(7 * 86400.0, ge=600)
    # Decisions learnt before a model's rarity means anything.
    model_min_population: int = Field(500, ge=10)
    # False: the models do not add evidence or alert (the ablation `replay --no-models`); they
    # still learn and score.
    use_models: bool = True
    # One alert per store per detector per episode: a store alerted by a detector is not
    # alerted by it again until this long after (event time).
    alert_episode_s: DurationS = 7 * 86400.0
    # A store this old is established: its youth no longer counts as evidence.
    young_store_s: DurationS = 30 * 86400.0
    # The marketplace's local time (hours east of UTC), for the night-time share of sales.
    local_utc_offset_h: float = Field(8.0, ge=-12, le=14)
    # Account numbers in alert reasons show only their first and last four characters (reasons
    # reach every downstream reader); a withdrawal alert's extra["bank_account"] holds it whole.
    mask_accounts: bool = True
    # How often a worker saves its models to Redis; a restarted worker resumes from the latest
    # save, so a crash costs the models at most this much learning.
    model_snapshot_interval_s: DurationS = Field(60.0, ge=5, le=86400)


class KafkaSecuritySettings(BaseModel):
    """How every Kafka client of Storewatch (Faust, aiokafka, kafka-python) connects.

    ``protocol`` is Kafka's ``security.protocol``; the SASL password is a SecretStr, so no
    repr, dump or log of the settings shows it. TLS verifies the broker against ``ssl_ca_file``
    (or the system CAs) and presents ``ssl_cert_file``/``ssl_key_file`` when given (mTLS).
    """

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_file: str | None = None
    ssl_cert_file: str | None = None
    ssl_key_file: str | None = None

    @model_validator(mode="after")
    def _check(self) -> KafkaSecuritySettings:
        sasl = self.protocol.startswith("SASL_")
        if sasl and not (self.sasl_username and self.sasl_password):
            raise ValueError(
                f"kafka_security.protocol {self.protocol} needs sasl_username and " f"sasl_password"
            )
        if not sasl and (self.sasl_username or self.sasl_password):
            raise ValueError(
                f"kafka_security.sasl_username/sasl_password are set but protocol "
                f"is {self.protocol}: they would not be used (want SASL_SSL?)"
            )
        if bool(self.ssl_cert_file) != bool(self.ssl_key_file):
            raise ValueError("kafka_security.ssl_cert_file and ssl_key_file go together")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of aiokafka and Faust clients; None without TLS."""
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(cafile=self.ssl_ca_file)
        if self.ssl_cert_file:
            context.load_cert_chain(self.ssl_cert_file, self.ssl_key_file)
        return context

    def aiokafka_options(self) -> dict[str, Any]:
        """Keyword arguments of AIOKafkaProducer/Consumer (the secret revealed, for the client
        only)."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl_password is not None:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password.get_secret_value(),
            )
        return options

    def kafka_python_options(self) -> dict[str, Any]:
        """Keyword arguments of kafka-python's KafkaAdminClient (it takes files, not a context)."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            options.update(
                ssl_cafile=self.ssl_ca_file,
                ssl_certfile=self.ssl_cert_file,
                ssl_keyfile=self.ssl_key_file,
            )
        if self.sasl_password is not None:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password.get_secret_value(),
            )
        return options


def redact_url(url: str) -> str:
    """A URL fit for logs and terminals: its password (if any) replaced by ``***``.

    >>> redact_url("rediss://app:s3cret@redis:6380/0"), redact_url("redis://:pw@r:6379")
    ('rediss://app:***@redis:6380/0', 'redis://:***@r:6379')
    >>> redact_url("redis://127.0.0.1:6379/0")
    'redis://127.0.0.1:6379/0'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class Settings(BaseSettings):
    """Everything a worker, a replay or the demo needs to run."""

    model_config = SettingsConfigDict(env_prefix="STOREWATCH_", env_nested_delimiter="__")

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = Field(4, ge=1, le=1024)
    # Alerts are written with an idempotent producer; Tansu (the embedded broker) refuses
    # InitProducerId, so `storewatch dev` turns this off for it.
    kafka_idempotent_producer: bool = True
    kafka_security: KafkaSecuritySettings = Field(default_factory=KafkaSecuritySettings)
    # The largest request the worker's producer sends (alerts, dead letters: both far smaller;
    # Kafka's own default message limit is about 1 MB).
    kafka_max_request_bytes: int = Field(1_000_000, ge=1024)
    # How long an alert or dead letter that the broker refuses is retried before the worker
    # halts its progress (it never commits past an event whose outcome is unpublished).
    publish_give_up_s: DurationS = Field(30.0, ge=0, le=3600)
    # redis:// or rediss:// (TLS); redis+cluster:// or rediss+cluster:// for a Redis Cluster.
    # Secret as a whole: it may carry a password (redis://user:password@host:6379/0).
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    # AUTH and TLS given apart from the URL (e.g. the password from its own secret); a value
    # in the URL wins.
    redis_password: SecretStr | None = None
    redis_tls_ca_file: str | None = None
    redis_tls_cert_file: str | None = None
    redis_tls_key_file: str | None = None
    metrics_port: int = Field(9108, ge=0, le=65535)
    app_id: str = "storewatch"
    consumer_group_rebalance_timeout_s: DurationS = 4.0
    consumer_group_session_timeout_s: DurationS = 8.0
    # How often a worker saves the stores it changed to Redis and lets the offsets of those
    # events commit. Longer: fewer writes for a busy store; a crash redoes up to this much.
    state_save_interval_s: DurationS = Field(1.0, ge=0.05, le=60)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    windows: WindowSettings = Field(default_factory=WindowSettings)
    detectors: DetectorSettings = Field(default_factory=DetectorSettings)

    @model_validator(mode="after")
    def _check_redis_tls(self) -> Settings:
        tls_files = (self.redis_tls_ca_file, self.redis_tls_cert_file, self.redis_tls_key_file)
        if any(tls_files) and not self.redis_url.get_secret_value().startswith("rediss"):
            raise ValueError("redis_tls_* files are set but redis_url is not rediss:// (TLS)")
        return self

    def redis_options(self) -> dict[str, Any]:
        """Keyword arguments of the Redis client from the separate AUTH/TLS settings (the
        password revealed, for the client only); empty when none is set."""
        options: dict[str, Any] = {}
        if self.redis_password is not None:
            options["password"] = self.redis_password.get_secret_value()
        for name, value in (
            ("ssl_ca_certs", self.redis_tls_ca_file),
            ("ssl_certfile", self.redis_tls_cert_file),
            ("ssl_keyfile", self.redis_tls_key_file),
        ):
            if value:
                options[name] = value
        return options

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit values win: load_settings() merges file < environment < command line itself
        # and passes the result in, and a validated tuning change must not be undone by env.
        return (init_settings, env_settings, file_secret_settings)
