"""``python -m benchmarks``: every benchmark, one after the other."""

from benchmarks import upload_stream


def main() -> int:
    return upload_stream.main()


if __name__ == "__main__":
    raise SystemExit(main())
