"""One module per file format, each with `load(data: bytes, context: ingest.load.Context) -> list[Unit]`.

The table of suffixes is `ingest.load.LOADERS`; a module is imported only when its format is met.
"""
