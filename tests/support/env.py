"""Settings → the environment of a service process, once for the tests and the benchmarks."""

from __future__ import annotations

import os

from vidsage.settings import Settings


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a service process (``python -m vidsage_<name>``) that joins the servers of
    ``settings``: this process's environment, then the ``VIDSAGE_*`` variables for where NATS and S3
    are, the bucket, region and keys, the models folder and the log level, then ``extra``."""
    return {
        **os.environ,
        "VIDSAGE_NATS__URL": settings.nats.url,
        "VIDSAGE_S3__ENDPOINT": settings.s3.endpoint,
        "VIDSAGE_S3__BUCKET": settings.s3.bucket,
        "VIDSAGE_S3__REGION": settings.s3.region,
        "VIDSAGE_S3__ACCESS_KEY": settings.s3.access_key.get_secret_value(),
        "VIDSAGE_S3__SECRET_KEY": settings.s3.secret_key.get_secret_value(),
        "VIDSAGE_MODELS_DIR": str(settings.models_dir),
        "VIDSAGE_LOG_LEVEL": settings.log_level,
        **extra,
    }
