"""Every page of a running site in Chromium at phone and desktop widths: what scrolls sideways.

    DATABASE_URL=sqlite:////tmp/corpus.sqlite3 .venv/bin/python manage.py migrate
    DATABASE_URL=sqlite:////tmp/corpus.sqlite3 .venv/bin/python manage.py import_notices <dir>
    DATABASE_URL=sqlite:////tmp/corpus.sqlite3 .venv/bin/python manage.py runserver 127.0.0.1:8931
    .venv/bin/python bench/real_layout.py http://127.0.0.1:8931 [--widths 375 1280]

The generated test archive is not the user's: real notices bring file names as alt texts,
one-word titles and wide code. The list and index pages and every notice (found through the
list JSON) are loaded with requests to other hosts refused; a page is reported when the
document is wider than the window, naming the text that sticks out, or when a visible control
is narrower than 44 px. Prints one line a width and the pages at fault; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
INDEX_PAGES = [
    "/", "/categories/", "/tags/", "/sites/", "/archive/", "/search/?q=%E9%80%9A%E7%9F%A5"
]  # fmt: skip
# Overflow, the text nodes that stick out (outside any box that scrolls), and narrow controls.
MEASURE = """() => {
  const over = document.documentElement.scrollWidth - window.innerWidth;
  const out = [];
  if (over > 0) {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node; (node = walker.nextNode()) && out.length < 3;) {
      const range = document.createRange(); range.selectNodeContents(node);
      if (range.getBoundingClientRect().right <= window.innerWidth + 1) continue;
      let clipped = false;
      for (let a = node.parentElement; a && a !== document.body; a = a.parentElement)
        if (getComputedStyle(a).overflowX !== 'visible') { clipped = true; break; }
      if (!clipped) out.push(node.parentElement.tagName.toLowerCase() + '.'
        + node.parentElement.className + ': ' + node.textContent.trim().slice(0, 60));
    }
  }
  const narrow = [...document.querySelectorAll('input:not([type=hidden]),select,button')]
    .filter(e => e.offsetParent !== null && e.getBoundingClientRect().width < 44).length;
  return {over, out, narrow, toc: document.querySelectorAll('.toc a').length > 0};
}"""


def notice_paths(base: str) -> list[str]:
    paths, url = [], f"{base}/?format=json"
    while url:
        with urllib.request.urlopen(url, timeout=30) as response:
            data = json.load(response)
        paths += [result["url"].removeprefix(base) for result in data["results"]]
        url = data["next"]
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base_url")
    parser.add_argument("--widths", type=int, nargs="+", default=[375, 1280])
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    pages = INDEX_PAGES + notice_paths(base)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        for width in args.widths:
            context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
            context.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith(base) else route.abort()
                ),
            )
            page = context.new_page()
            faults, with_toc, started = [], 0, time.perf_counter()
            for path in pages:
                response = page.goto(base + path, wait_until="load")
                page.wait_for_timeout(50)  # broken images turn into boxes just after load
                found = page.evaluate(MEASURE)
                with_toc += found["toc"]
                if response.status != 200 or found["over"] > 0 or found["narrow"]:
                    faults.append((path, response.status, found))
            seconds = time.perf_counter() - started
            print(
                f"{width} px: {len(pages)} pages, {len(faults)} at fault, "
                f"{with_toc} with a table of contents ({seconds:.0f} s)"
            )
            for path, status, found in faults:
                print(f"  {path} status {status} wider by {found['over']} px, "
                      f"{found['narrow']} narrow controls: {found['out']}")  # fmt: skip
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
