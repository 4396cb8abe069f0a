"""vidsage's developer tools: the local runner behind ``make run``, the offline model setup and the
event-contract exporter. Never installed in a service image.

- :mod:`vidsage_dev.cli`: ``vidsage dev`` / ``vidsage-dev`` / ``python -m vidsage_dev``;
- :mod:`vidsage_dev.system`: :class:`~vidsage_dev.system.DevSystem`, NATS + S3 + the services as one;
- :mod:`vidsage_dev.infra`: starting ``nats-server`` and the S3 server (``rclone serve s3``);
- :mod:`vidsage_dev.processes`: supervised child processes and their prefixed output;
- :mod:`vidsage_dev.ports`: free ports and addresses;
- :mod:`vidsage_dev.setup_models`: ``python -m vidsage_dev.setup_models`` (``make setup``);
- :mod:`vidsage_dev.schemas`: the JSON Schemas and AsyncAPI document (``vidsage schemas``, ``make schemas``).
"""
