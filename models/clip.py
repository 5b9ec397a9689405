"""CLIP from Immich-style ONNX exports: image and text encoders into one space (search by meaning), plus zero-shot
scene labels (beach, sunset, snow, document …) that an ImageNet classifier cannot give.

An export is a folder <models.path>/<name>/ (Immich's cache layout <…>/clip/<name>/ is accepted too) with
config.json (the open_clip model config: embed_dim, vision_cfg, text_cfg), visual/model.onnx +
visual/preprocess_cfg.json (size, mean, std, interpolation, resize_mode) and textual/model.onnx +
textual/tokenizer.json + textual/tokenizer_config.json (pad_token). Inputs are named "image" (float32 N×3×S×S)
and "text" (int32 N×context_length, padded with the pad token), as Immich exports them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import string
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import peewee as pw

from photoshelf.config import Config
from photoshelf.db.schema import PhotoLabel
from photoshelf.db.transactions import write_transaction
from photoshelf.models import lookalike
from photoshelf.models.runtime import Lazy, onnx_session, require
from photoshelf.models.stages import Item, Stage
from photoshelf.models.vectors import Space, VectorIndex

log = logging.getLogger(__name__)

REQUIRED_FILES = ("config.json", "visual/model.onnx", "visual/preprocess_cfg.json", "textual/model.onnx",
                  "textual/tokenizer.json", "textual/tokenizer_config.json")
OPTIONAL_FILES = ("textual/special_tokens_map.json",)


@dataclass(frozen=True)
class Scene:
    name: str
    categories: tuple[str, ...]
    prompt: str


# Zero-shot scene labels: one prompt each; the background prompts take the probability of photos that show none.
SCENES: tuple[Scene, ...] = tuple(Scene(n, tuple(c.split(",")), p) for n, c, p in (
    ("beach", "nature,water", "a photo of a beach"),
    ("sunset", "nature,sky", "a photo of a sunset"),
    ("mountain", "nature,landscape", "a photo of mountains"),
    ("snow", "nature,winter", "a photo of snow"),
    ("forest", "nature,landscape", "a photo of a forest"),
    ("lake", "nature,water", "a photo of a lake"),
    ("desert", "nature,landscape", "a photo of a desert"),
    ("city", "place,urban", "a photo of a city street"),
    ("night", "sky", "a photo taken at night"),
    ("food", "food", "a photo of food"),
    ("party", "event", "a photo of a party"),
    ("wedding", "event", "a photo of a wedding"),
    ("birthday", "event", "a photo of a birthday cake"),
    ("concert", "event,music", "a photo of a concert"),
    ("sports", "event,sports", "a photo of people playing sports"),
    ("baby", "people", "a photo of a baby"),
    ("group", "people", "a group photo of people"),
    ("document", "document", "a photo of a document"),
    ("screenshot", "document", "a screenshot of a computer screen"),
    ("receipt", "document", "a photo of a receipt"),
    ("car", "vehicle", "a photo of a car"),
    ("flower", "nature,plant", "a photo of flowers"),
    ("pet", "animal", "a photo of a pet"),
))
BACKGROUND = ("a photo", "a photo of an object", "a photo of a room")
LOGIT_SCALE = 100.0  # CLIP's learned temperature (exp(4.6052)); softmax(100 * cosine)
LABEL_THRESHOLD = 0.3
MAX_LABELS = 3
LABELS_VERSION = "z1"  # bump when SCENES, BACKGROUND or the thresholds change


def model_dir(config: Config, name: str) -> Path:
    """Where the export `name` lives: <models.path>/<name>, or Immich's <models.path>/clip/<name> when only that
    one exists."""
    base = config.models_path
    plain = base / name
    immich = base / "clip" / name
    return immich if not plain.exists() and immich.exists() else plain


def missing_files(folder: Path) -> list[str]:
    return [f for f in REQUIRED_FILES if not (folder / f).is_file()]


def read_config(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "config.json").read_text("utf-8"))
    return data


def space_for(config: Config, name: str) -> Space | None:
    """The vector space of the model `name` (its embed_dim from config.json), None when it is not installed."""
    folder = model_dir(config, name)
    if not (folder / "config.json").is_file():
        return None
    return Space(f"clip:{name}"[:48], int(read_config(folder)["embed_dim"]))


def clean_text(text: str, canonicalize: bool = False) -> str:
    """Whitespace collapsed; lower case without punctuation for models trained that way (SigLIP)."""
    text = " ".join(text.split())
    if canonicalize:
        text = text.translate(str.maketrans("", "", string.punctuation)).lower()
    return text


class ClipModel:
    """One installed export: preprocessing, tokenizer and the two ONNX sessions (each loaded on first use)."""

    def __init__(self, folder: Path, threads: int = 0) -> None:
        missing = missing_files(folder)
        if missing:
            raise FileNotFoundError(f"CLIP model at {folder} lacks {', '.join(missing)}")
        self.folder = folder
        self.threads = threads
        self.config = read_config(folder)
        self.dim = int(self.config["embed_dim"])
        text_cfg = self.config.get("text_cfg", {})
        self.context_length = int(text_cfg.get("context_length", 77))
        self.canonicalize = (text_cfg.get("tokenizer_kwargs") or {}).get("clean") == "canonicalize"
        pre = json.loads((folder / "visual" / "preprocess_cfg.json").read_text("utf-8"))
        size = pre.get("size", self.config.get("vision_cfg", {}).get("image_size", 224))
        self.size = int(size[0] if isinstance(size, list) else size)
        self.mean = np.asarray(pre.get("mean", (0.48145466, 0.4578275, 0.40821073)), dtype=np.float32)
        self.std = np.asarray(pre.get("std", (0.26862954, 0.26130258, 0.27577711)), dtype=np.float32)
        self.interpolation = str(pre.get("interpolation", "bicubic")).lower()
        self.resize_mode = str(pre.get("resize_mode", "shortest"))
        if self.resize_mode not in ("shortest", "squash"):
            raise ValueError(f"{folder}: unsupported resize_mode {self.resize_mode!r}")
        self._visual: Any = None
        self._textual: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self._prompts: np.ndarray | None = None

    # --- images ---

    def preprocess(self, image: Any) -> np.ndarray:
        """A PIL image as the visual encoder's input (3×S×S float32): resize (shortest side to S, then a centre
        crop; or squash), scale to 0..1, normalise with the export's mean and std."""
        from PIL import Image

        resample = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
                    "nearest": Image.Resampling.NEAREST, "lanczos": Image.Resampling.LANCZOS}.get(
            self.interpolation, Image.Resampling.BICUBIC)
        image = image.convert("RGB") if image.mode != "RGB" else image
        s = self.size
        if self.resize_mode == "squash":
            image = image.resize((s, s), resample=resample)
        else:
            w, h = image.size
            if w < h:
                image = image.resize((s, max(s, int(h / w * s))), resample=resample)
            else:
                image = image.resize((max(s, int(w / h * s)), s), resample=resample)
            w, h = image.size
            left, top = int(round((w - s) / 2.0)), int(round((h - s) / 2.0))
            image = image.crop((left, top, left + s, top + s))
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        return np.ascontiguousarray(((pixels - self.mean) / self.std).transpose(2, 0, 1))

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        """Unit image embeddings (N×D) for PIL images."""
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        session = self._session("visual")
        batch = np.stack([self.preprocess(im) for im in images])
        name = session.get_inputs()[0].name
        if _fixed_batch(session):
            out = np.concatenate([session.run(None, {name: batch[i:i + 1]})[0] for i in range(len(batch))])
        else:
            out = session.run(None, {name: batch})[0]
        return _unit(out)

    # --- text ---

    def tokenize(self, texts: Sequence[str]) -> np.ndarray:
        """Token ids, N×context_length, truncated and padded with the export's pad token (int32, as Immich)."""
        tokenizer = self._get_tokenizer()
        encodings = tokenizer.encode_batch([clean_text(t, self.canonicalize) for t in texts])
        return np.asarray([e.ids for e in encodings], dtype=np.int32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit text embeddings (N×D)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        session = self._session("textual")
        tokens = self.tokenize(texts)
        inp = session.get_inputs()[0]
        if "int64" in inp.type:
            tokens = tokens.astype(np.int64)
        if _fixed_batch(session):
            out = np.concatenate([session.run(None, {inp.name: tokens[i:i + 1]})[0] for i in range(len(tokens))])
        else:
            out = session.run(None, {inp.name: tokens})[0]
        return _unit(out)

    def scene_prompts(self) -> np.ndarray:
        """Text embeddings of the scene prompts, then the background prompts (computed once per load)."""
        if self._prompts is None:
            self._prompts = self.encode_texts([s.prompt for s in SCENES] + list(BACKGROUND))
        return self._prompts

    def scenes(self, image_vectors: np.ndarray) -> list[list[tuple[Scene, float]]]:
        """Zero-shot scene labels per image: softmax over all prompts at CLIP's temperature; scenes whose
        probability passes the threshold, most likely first."""
        logits = LOGIT_SCALE * (image_vectors @ self.scene_prompts().T)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        out = []
        for row in probs:
            order = np.argsort(-row[: len(SCENES)])[:MAX_LABELS]
            out.append([(SCENES[i], float(row[i])) for i in order if row[i] >= LABEL_THRESHOLD])
        return out

    # --- loading ---

    def _session(self, part: str) -> Any:
        with self._lock:
            attr = f"_{part}"
            if getattr(self, attr) is None:
                setattr(self, attr, onnx_session(str(self.folder / part / "model.onnx"), self.threads))
            return getattr(self, attr)

    def _get_tokenizer(self) -> Any:
        with self._lock:
            if self._tokenizer is None:
                tokenizers = require("tokenizers")
                textual = self.folder / "textual"
                tokenizer = tokenizers.Tokenizer.from_file(str(textual / "tokenizer.json"))
                cfg = json.loads((textual / "tokenizer_config.json").read_text("utf-8"))
                pad_token = cfg.get("pad_token")
                if isinstance(pad_token, dict):
                    pad_token = pad_token.get("content")
                pad_id = tokenizer.token_to_id(pad_token) if pad_token else None
                if pad_id is None:
                    raise ValueError(f"{textual}: pad token {pad_token!r} is not in tokenizer.json")
                tokenizer.enable_padding(length=self.context_length, pad_token=pad_token, pad_id=pad_id)
                tokenizer.enable_truncation(max_length=self.context_length)
                self._tokenizer = tokenizer
            return self._tokenizer


def _fixed_batch(session: Any) -> bool:
    return session.get_inputs()[0].shape[0] == 1


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


_models: dict[tuple[str, int], Lazy] = {}
_models_lock = threading.Lock()


def loader(config: Config, name: str) -> Lazy:
    """The process-wide lazily loaded model `name` (the stage and search queries share it)."""
    folder = model_dir(config, name)
    key = (str(folder), config.models.threads)
    with _models_lock:
        lazy = _models.get(key)
        if lazy is None:
            threads = config.models.threads
            lazy = Lazy(f"clip {name}", lambda: ClipModel(folder, threads), config.models.idle_unload_seconds)
            _models[key] = lazy
        return lazy


def load(config: Config, name: str) -> ClipModel:
    model: ClipModel = loader(config, name).get()
    return model


def how_to_get(config: Config, name: str) -> str:
    return (f"run `photoshelf models pull {name}` (downloads it from the Hugging Face hub), or copy an Immich "
            f"export of it into {model_dir(config, name)}")


@dataclass
class Embedded:
    """What the CLIP stage computed for a batch: an embedding and scenes per readable photo, errors for the rest."""

    version: str
    ids: list[int] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))  # (len(ids), dim)
    scenes: list[list[tuple[Scene, float]]] = field(default_factory=list)  # per photo, most likely first
    results: dict[int, str | None] = field(default_factory=dict)


class ClipStage(Stage):
    """Embeds the fit thumbnail with the configured CLIP model (space clip:<name>) and adds zero-shot scene labels
    (PhotoLabel source "clip")."""

    name = "clip"
    order = 30

    @property
    def model_name(self) -> str:
        return self.config.models.clip_model

    def unavailable(self) -> str | None:
        models = self.config.models
        if not models.enabled:
            return "machine learning is turned off (models.enabled = false)"
        if not self.model_name:
            return "no CLIP model is configured (models.clip_model is empty)"
        for module in ("onnxruntime", "tokenizers"):
            if importlib.util.find_spec(module) is None:
                return f"CLIP needs the Python package {module!r}: pip install 'photoshelf[ml]'"
        folder = model_dir(self.config, self.model_name)
        missing = missing_files(folder)
        if len(missing) == len(REQUIRED_FILES):
            return f"CLIP model {self.model_name} is not installed: " + how_to_get(self.config, self.model_name)
        if missing:
            return (f"CLIP model {self.model_name} is incomplete ({folder} lacks {', '.join(missing)}): "
                    + how_to_get(self.config, self.model_name))
        return None

    def version(self) -> str:
        folder = model_dir(self.config, self.model_name)
        h = hashlib.sha1()
        h.update((folder / "config.json").read_bytes())
        for part in ("visual", "textual"):
            h.update(str((folder / part / "model.onnx").stat().st_size).encode())
        h.update(repr((SCENES, BACKGROUND, LOGIT_SCALE, LABEL_THRESHOLD, MAX_LABELS, LABELS_VERSION)).encode())
        return f"{self.model_name[:38]}-{h.hexdigest()[:8]}"

    def index(self) -> VectorIndex:
        space = space_for(self.config, self.model_name)
        if space is None:
            raise FileNotFoundError(f"CLIP model {self.model_name} is not installed")
        return VectorIndex(self.db, space)

    def compute(self, items: Sequence[Item]) -> Embedded:
        """The batch's embeddings and zero-shot scenes, without touching the catalog."""
        from PIL import Image

        model = load(self.config, self.model_name)
        out = Embedded(version=self.version())
        images = []
        for item in items:
            try:
                with Image.open(item.fit) as im:  # fully decoded: JPEG draft scaling would shift the embedding
                    images.append(im.convert("RGB"))
                out.ids.append(item.photo_id)
            except OSError as exc:
                out.results[item.photo_id] = f"cannot read the thumbnail: {exc}"
        out.vectors = model.encode_images(images)
        out.scenes = model.scenes(out.vectors) if out.ids else []
        return out

    def store(self, computed: Embedded) -> dict[int, str | None]:
        """The embeddings into the vector index, the look-alike pairs they make, and the scene labels."""
        ids, vectors = computed.ids, computed.vectors
        with write_transaction(self.db):
            vindex = self.index()
            vindex.add(zip(ids, vectors, strict=True))
            lookalike.update(vindex, zip(ids, vectors, strict=True), self.config.models.duplicate_similarity,
                             vindex.space.name)
            if ids:
                PhotoLabel.delete().where(PhotoLabel.photo.in_(ids) & (PhotoLabel.source == "clip")).execute()
            rows = [{"photo": pid, "name": scene.name, "category": scene.categories[0],
                     "categories": "," + ",".join(scene.categories) + ",", "confidence": round(p, 4),
                     "source": "clip", "model": computed.version}
                    for pid, found in zip(ids, computed.scenes, strict=True) for scene, p in found]
            if rows:
                # A label another source already gave the photo (imagenet "dog", a user's label) is kept as is.
                PhotoLabel.insert_many(rows).on_conflict_ignore().execute()
        return {**computed.results, **dict.fromkeys(ids)}

    def forget(self, photo_ids: Sequence[int]) -> None:
        ids = list(photo_ids)
        if space_for(self.config, self.model_name) is not None:
            self.index().remove(ids)
        lookalike.forget(ids)
        PhotoLabel.delete().where(PhotoLabel.photo.in_(ids) & (PhotoLabel.source == "clip")).execute()

    def close(self) -> None:
        if self.model_name:
            loader(self.config, self.model_name).unload()


def embed_query(config: Config, db: pw.Database, text: str) -> np.ndarray:
    """A free-text query in the CLIP space of the configured model."""
    return load(config, config.models.clip_model).encode_texts([text])[0]
