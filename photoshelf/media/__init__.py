"""The media layer under both the indexer and the viewer: decoding, thumbnails, exiftool, metadata, transcoding."""
