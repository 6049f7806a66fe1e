"""The data pipeline: article text and curated facts to RDF graphs, checks, store and dumps.

Pure Python on rdflib, pyoxigraph, owlready2 and pyshacl; nothing here knows about HTTP.
"""
