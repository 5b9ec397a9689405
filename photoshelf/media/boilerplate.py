"""Camera boilerplate: text cameras and apps write into title/description fields that describes nothing."""

from __future__ import annotations

import re

# Whole values, compared without regard to case or spacing. Collected from real files (and from the lists
# PhotoPrism and digiKam keep): vendor names and the "<brand> DIGITAL CAMERA" family, placeholders that firmware
# and apps write by default, and what some tools put in when they have nothing.
PHRASES = frozenset(s.casefold() for s in (
    # vendors and their "digital camera" captions
    "OLYMPUS DIGITAL CAMERA", "SAMSUNG", "SAMSUNG CAMERA PICTURES", "SONY DSC", "SONY", "MINOLTA DIGITAL CAMERA",
    "KONICA MINOLTA DIGITAL CAMERA", "KODAK Digital Still Camera", "KODAK CSC", "LEICA", "LEICA CAMERA",
    "PENTAX DIGITAL CAMERA", "PENTAX", "CASIO", "CASIO DIGITAL CAMERA", "NIKON", "NIKON DIGITAL CAMERA",
    "FUJIFILM", "FUJIFILM DIGITAL CAMERA", "Panasonic", "Canon", "Canon DIGITAL CAMERA", "RICOH", "SANYO",
    "SANYO DIGITAL CAMERA", "SIGMA", "Digital Camera", "DIGITAL STILL CAMERA", "Camera", "HUAWEI", "Xiaomi",
    "MOTOROLA", "LG", "LGE", "Vivitar", "AgfaPhoto", "Concord", "Toshiba", "SONY ERICSSON", "Nokia",
    # placeholders
    "Default", "default", "Image", "Photo", "Picture", "Untitled", "No description", "Description",
    "ImageDescription", "Exif_JPEG_PICTURE", "Exif JPEG", "JPEG", "DCF 1.0", "Picasa", "Scanner",
    "Created by Imlib", "iClarified", "binary comment", "charset=Ascii", "DVC 10.1 HDMI", "DCIM",
))

# Huawei/Honor (and some other Android) camera-mode codes. Compared exactly: a person's "Mon" is not "mon".
MODE_CODES = frozenset({
    "rhdr", "hdrpl", "oznorWO", "frontbhdp", "fbt", "rbt", "ptr", "fbthdr", "btr", "mon", "nor", "dav", "mde",
    "mde_soft", "edf", "btfmdn", "btf", "btfhdr", "frem", "oznor", "rpt", "burst", "sdr_HDRB", "cof", "qrf",
    "fshbty",
})

_SPACES = re.compile(r"\s+")
# DCIM\100GOPRO\GOPR0482.JPG (GoPro writes the file's own path); <KENOX S630  / Samsung S630>, <Digimax i5,
# Samsung #1> (Samsung's model in angle brackets); "string with binary data", "(Binary data 23 bytes)".
_PATTERNS = (
    re.compile(r"^DCIM[\\/]\S*$", re.IGNORECASE),
    re.compile(r"^<[^<>]*>$"),
    re.compile(r"^(string with binary data|\(binary data)", re.IGNORECASE),
    re.compile(r"^[\W_]+$"),  # only punctuation: "-", "...", "__"
)


def is_boilerplate(text: str | None, make: str | None = None, model: str | None = None) -> bool:
    """Whether `text` (a title or description from any source) is camera boilerplate, not words of a person.
    The camera's own make or model, written back as a caption, counts too."""
    if not text:
        return False
    value = _SPACES.sub(" ", text.strip())
    if value in MODE_CODES or value.casefold() in PHRASES or any(p.search(value) for p in _PATTERNS):
        return True
    folded = value.casefold()
    names = {n.strip().casefold() for n in (make, model) if n and n.strip()}
    if make and model:
        names.add(f"{make.strip()} {model.strip()}".casefold())
    return folded in names or (bool(names) and folded in {f"{n} digital camera" for n in names})
