"""The notifier service: every ``vidsage.video.*`` event → signed HTTP POSTs to the webhook
endpoints of the video's owner that subscribed to it (see README.md)."""
