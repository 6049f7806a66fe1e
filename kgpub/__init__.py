"""kgpub: publish the facts of articles as a linked-data knowledge graph."""

__version__ = "0.1.0"
