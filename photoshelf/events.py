"""What happened to photos, told once: a small typed registry that listeners subscribe to (like beets' events)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, get_args

log = logging.getLogger(__name__)

EventKind = Literal["photos_added", "photos_changed", "photos_moved", "photos_removed", "user_edit"]
KINDS: tuple[EventKind, ...] = get_args(EventKind)
# photos_added    photos that are in the library now and were not: new catalog rows, or back from missing
# photos_changed  photos whose file was read again (new bytes, a changed XMP/Takeout sidecar, a forced index)
# photos_moved    photos whose file now lives at another path (same bytes, same photo)
# photos_removed  photos none of whose files is left (marked missing; purged after the grace period)
# user_edit       photos a person changed (titles, flags, albums, people...), in the viewer, the CLI or a sidecar


@dataclass(frozen=True)
class PhotoEvent:
    kind: EventKind
    photo_ids: tuple[int, ...]


Listener = Callable[[PhotoEvent], None]


class Events:
    """Listeners by event kind. `send` calls them in the order they subscribed, on the sender's thread; a
    listener's exception reaches the sender (a listener that may fail handles its own errors)."""

    def __init__(self) -> None:
        self._listeners: dict[EventKind, list[Listener]] = {kind: [] for kind in KINDS}

    def listen(self, kinds: EventKind | Iterable[EventKind], listener: Listener) -> Callable[[], None]:
        """Call `listener` for each event of these kinds; returns the function that unsubscribes it."""
        chosen: tuple[EventKind, ...] = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        for kind in chosen:
            if kind not in self._listeners:
                raise ValueError(f"no event {kind!r} (known: {', '.join(KINDS)})")
            self._listeners[kind].append(listener)

        def unsubscribe() -> None:
            for kind in chosen:
                if listener in self._listeners[kind]:
                    self._listeners[kind].remove(listener)

        return unsubscribe

    def send(self, kind: EventKind, photo_ids: Iterable[int]) -> None:
        """Tell the listeners of `kind` about these photos (nothing is sent for none)."""
        ids = tuple(sorted(set(photo_ids)))
        if not ids:
            return
        event = PhotoEvent(kind, ids)
        log.debug("event %s: %d photos", kind, len(ids))
        for listener in list(self._listeners[kind]):
            listener(event)


@dataclass
class PhotoChanges:
    """The photos one catalog pass added, changed, moved and removed (the indexer fills it, the library sends it)."""

    added: set[int] = field(default_factory=set)
    changed: set[int] = field(default_factory=set)
    moved: set[int] = field(default_factory=set)
    removed: set[int] = field(default_factory=set)

    def send(self, events: Events) -> None:
        """The pass's events, in this order: removed photos before added ones (a listener may reuse a slot)."""
        events.send("photos_removed", self.removed - self.added)
        events.send("photos_moved", self.moved - self.removed)
        events.send("photos_added", self.added)
        events.send("photos_changed", self.changed - self.added - self.removed)
