"""Sample archives: deterministic, fictional Hexo-style notices for `make run`, tests and
benchmarks (`manage.py generate_archive`). Not part of the site: no runtime module imports it.
"""

from sample.generator import FIRST_YEAR, LAST_YEAR, SITES, Site, generate_document, write_archive

__all__ = ["FIRST_YEAR", "LAST_YEAR", "SITES", "Site", "generate_document", "write_archive"]
