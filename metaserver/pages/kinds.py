"""What a file is, by its name: its icon, and whether and how the page may preview it.

Only content that cannot run script is ever shown inline: raster images, PDF, and text
(which the page renders itself, escaped, from the file's first bytes). Everything else,
HTML, SVG and XML included, is only ever downloaded as an attachment.
"""

from __future__ import annotations

from dataclasses import dataclass

#: raster image types a browser shows and never runs (no SVG: it can carry script)
IMAGE_TYPES = {
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
    "bmp": "image/bmp", "avif": "image/avif", "ico": "image/x-icon",
}  # fmt: skip
PDF_TYPE = "application/pdf"
TEXT_EXTENSIONS = frozenset(
    "txt md markdown rst csv tsv log json yaml yml toml ini cfg conf py js ts css html htm xml svg sh c h cpp hpp "
    "rs go java kt rb php pl sql tex srt env gitignore".split()
)
_ICONS = {
    "image": IMAGE_TYPES.keys() | {"svg", "tif", "tiff", "heic", "raw"},
    "audio": {"mp3", "wav", "flac", "ogg", "m4a", "aac", "opus"},
    "video": {"mp4", "mkv", "mov", "avi", "webm", "m4v"},
    "archive": {"zip", "tar", "gz", "tgz", "bz2", "xz", "7z", "rar", "zst"},
    "pdf": {"pdf"},
    "doc": {"doc", "docx", "odt", "rtf", "xls", "xlsx", "ods", "ppt", "pptx", "odp", "epub"},
    "code": {"py", "js", "ts", "css", "html", "htm", "xml", "sh", "c", "h", "cpp", "hpp", "rs", "go", "java", "json"},
    "text": {"txt", "md", "markdown", "rst", "csv", "tsv", "log", "yaml", "yml", "toml", "ini", "cfg", "conf"},
}
#: the first bytes of a text file the page shows
TEXT_PREVIEW_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Kind:
    icon: str  # folder, image, audio, video, archive, pdf, doc, code, text, file
    preview: str | None  # "image", "pdf", "text" or None
    inline_type: str | None  # the content type /raw/ serves it inline with, if any


def extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and (stem or ext in TEXT_EXTENSIONS) else ""


def of(name: str, is_folder: bool = False) -> Kind:
    if is_folder:
        return Kind("folder", None, None)
    ext = extension(name)
    icon = next((icon for icon, exts in _ICONS.items() if ext in exts), "file")
    if ext in IMAGE_TYPES:
        return Kind(icon, "image", IMAGE_TYPES[ext])
    if ext == "pdf":
        return Kind(icon, "pdf", PDF_TYPE)
    if ext in TEXT_EXTENSIONS:
        return Kind(icon, "text", None)
    return Kind(icon, None, None)
