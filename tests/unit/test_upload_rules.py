import pytest

from vidsage_gateway.intake import clean_filename


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("clip.mp4", "clip.mp4"),
        ("C:\\Users\\me\\clip.mov", "clip.mov"),
        ("../../etc/passwd", "passwd"),
        ("a\x00b\x1b[31mc.avi", "ab[31mc.avi"),
        ("", "upload"),
        (None, "upload"),
        ("   ", "upload"),
        ("x" * 400 + ".mp4", "x" * 255),
        ("vidéo été.mp4", "vidéo été.mp4"),
        ("say %22hi%22.mp4", 'say "hi".mp4'),
        ("100%25 %20.mp4", "100%25 %20.mp4"),
        ("a%0Ab.mp4", "ab.mp4"),
    ],
)
def test_clean_filename(raw: str | None, clean: str) -> None:
    assert clean_filename(raw) == clean
