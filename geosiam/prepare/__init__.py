"""``geosiam prepare``: settings -> sources -> tiles -> masks -> pairs, then what is published.

settings.py resolves the settings; pipeline.py runs the stages end to end and returns a
summary, which the command (commands/prepare.py) prints: nothing here prints. stages.py holds the
stages over an area, streaming.py the IGN départements one at a time; publish.py writes the
mosaics and stac.py the STAC collection.
"""
