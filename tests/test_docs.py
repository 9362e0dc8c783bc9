"""The documentation: it builds with warnings as errors, its generated pages and pictures are there, its
internal links and images resolve, its example of making a reference works, the performance page shows every
benchmark result, and the README stays short, starts with the two commands and links only to files that exist."""

import html
import json
import re
import runpy
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest

from commands import clean_environment, command
from liger_iris_pipeline.integration import get_steps
from liger_iris_pipeline.reference_store import add_references
from liger_iris_pipeline.simulator import simulate_observation

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parent.parent
DOCS = REPOSITORY / "docs"


class Links(HTMLParser):
    """The href/src/data targets of a page."""

    def __init__(self):
        super().__init__()
        self.targets = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src", "data") and value:
                self.targets.append(value)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The HTML site, built as ``make docs`` builds it (Graphviz installed first if missing)."""
    subprocess.run(["make", "--no-print-directory", "-C", str(REPOSITORY), "system-packages"], check=True)
    output = tmp_path_factory.mktemp("html")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(output)],
        capture_output=True,
        text=True,
        env=clean_environment(),
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return output


def test_every_registered_step_has_a_generated_page(site):
    for class_path, alias, is_pipeline in get_steps():
        page = (site / "api" / "generated" / "steps" / f"{alias}.html").read_text()
        class_name = class_path.rsplit(".", 1)[1]
        assert class_name in page
        assert "Parameters" in page and "suffix" in page
        if not is_pipeline:
            assert re.search(r"S_[A-Z]+", page), f"{alias}: no status keyword"


def test_step_page_shows_its_spec_and_references(site):
    page = (site / "api" / "generated" / "steps" / "flat_field.html").read_text()
    text = re.sub(r"<[^>]+>", " ", page)
    assert "override_flat" in text
    assert "META.INSTRUMENT.FILTER" in text  # the CRDS rule of the flat
    assert "S_FLAT" in text and "_flat" in text
    assert "flat_field/flat_field.cfg" in text and "flat_field/flat_field.asdf" in text  # both shipped files


def test_design_page_has_the_workflow_pictures(site):
    page = (site / "design.html").read_text()
    pictures = re.findall(r'(?:src|data)="(_images/graphviz-[0-9a-f]+\.svg)"', page)
    assert len(set(pictures)) == 2
    svgs = [(site / picture).read_text() for picture in sorted(set(pictures))]
    rules = ("crds_select", "dq_init", "dark_current", "flat_field", "assign_wcs", "merge_subarrays")
    assert any(all(rule in svg for rule in rules) for svg in svgs), "the rule graph lacks a rule"
    assert any(
        "crds_reference" in svg and "GUIDE" in svg for svg in svgs
    ), "the job graph lacks the subarray or a fetch"


def test_internal_links_and_images_resolve(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        parser = Links()
        parser.feed(page.read_text())
        for target in parser.targets:
            parts = urlsplit(target)
            if parts.scheme or target.startswith(("#", "mailto:")):
                continue
            path = (page.parent / unquote(parts.path)).resolve()
            assert path.exists(), f"{page.relative_to(site)}: broken link {target}"


def test_the_new_reference_example_gives_a_new_context(tmp_path):
    """docs/examples/new_flat_reference.py, then crds_add_references and crds_fetch as the docs say."""
    observation = simulate_observation(tmp_path / "raw", instrument="IRIS", size=64, seed=3)
    add_references(tmp_path / "store", [observation.mask, observation.dark, observation.flat])
    example = runpy.run_path(str(DOCS / "examples" / "new_flat_reference.py"))
    flat = np.ones((64, 64))
    flat[5, 5] = 0.0
    path = example["write_flat_reference"](flat, np.full(flat.shape, 0.002), tmp_path, "2027-04-01T00:00:00")
    assert path.name == "IRIS_IMG1_FLAT_20270401T000000_1.fits"

    environment = clean_environment()
    added = subprocess.run(
        [
            command("crds_add_references"),
            "--store",
            str(tmp_path / "store"),
            "--description",
            "docs example",
            str(path),
        ],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "ligeriri_0002.pmap"
    table = tmp_path / "bestrefs.json"
    fetched = subprocess.run(
        [
            command("crds_fetch"),
            "--store",
            str(tmp_path / "store"),
            "--crds-path",
            str(tmp_path / "cache"),
            "--bestrefs-out",
            str(table),
            str(observation.raw[0]),
        ],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert fetched.returncode == 0, fetched.stderr
    selection = json.loads(table.read_text())
    assert selection["context"] == "ligeriri_0002.pmap"
    (references,) = selection["bestrefs"].values()
    # The frame was taken on 2027-05-01, after the new flat's USEAFTER: CRDS takes it over the 2020 one.
    assert references["flat"] == path.name
    assert references["mask"] == Path(observation.mask).name


def test_benchmark_result_reader_refuses_markdown_it_does_not_render():
    """The docs show a result only as written: a heading, a list or a ragged table fails the build."""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import benchmark_results
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    table = benchmark_results.markdown_nodes("Intro with `code` and **bold**.\n\n| a | b |\n|---|---:|\n| 1 | 2 |\n")
    assert [node.tagname for node in table] == ["paragraph", "table"]
    assert "--cores 2" in benchmark_results.markdown_nodes("| x |\n|---|\n| --cores 2 |\n")[0].astext()
    for text in (
        "# A heading\n",
        "- a list item\n",
        "| a | b |\n|---|---|\n| 1 |\n",
        "| a |\n| b |\n",
        "text\n| a |\n",
    ):
        with pytest.raises(benchmark_results.MarkdownError):
            benchmark_results.markdown_nodes(text)


def page_text(path):
    """The text of an HTML page, tags removed and white space collapsed."""
    text = re.sub(r"<[^>]+>", "", path.read_text())
    return " ".join(html.unescape(text).split())


def test_performance_page_includes_every_benchmark_result(site):
    """Every cell and paragraph of every benchmarks/results/*.md is on the performance page, as written."""
    page = page_text(site / "performance.html")
    results = sorted((REPOSITORY / "benchmarks" / "results").glob("*.md"))
    assert results
    for result in results:
        for line in result.read_text().splitlines():
            if not line.strip() or re.match(r"^\|[-:| ]+\|$", line.strip()):
                continue
            pieces = line.strip().strip("|").split("|") if line.lstrip().startswith("|") else [line]
            for piece in pieces:
                text = " ".join(re.sub(r"\*\*|`", "", piece).split())
                assert text in page, f"{result.name}: {text!r} is not on the performance page"


README = REPOSITORY / "README.md"
#: A Markdown link or image: [text](target) or ![alt](target "title").
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def test_readme_starts_with_the_two_commands():
    """The README's first lines after its title are the two set-up commands, make demo and make test."""
    lines = README.read_text().splitlines()
    assert lines[0].startswith("# ")
    body = [line for line in lines[1:] if line.strip()]
    assert body[0] == "```sh" and body[3] == "```", body[:4]
    assert body[1].startswith("make demo ") and body[2].startswith("make test ")
    makefile = (REPOSITORY / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_readme_is_short():
    """The README is the two commands, a tour and links: everything else lives in the docs."""
    lines = README.read_text().splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines; move the detail into docs/"


def test_readme_relative_links_point_to_existing_files():
    links = MARKDOWN_LINK.findall(README.read_text())
    relative = [link for link in links if not urlsplit(link).scheme and not link.startswith(("#", "mailto:"))]
    assert len(relative) >= 10, relative  # the documentation list links into docs/ and benchmarks/results/
    for link in relative:
        path = REPOSITORY / unquote(urlsplit(link).path)
        assert path.exists(), f"README.md: broken link {link}"
    # Every page of the docs the README links to is in the site's table of contents (or is the docs' README).
    pages = {Path(link).stem for link in relative if link.startswith("docs/") and link.endswith(".rst")}
    index = (DOCS / "index.rst").read_text() + (DOCS / "api" / "index.rst").read_text()
    assert pages and all(re.search(rf"^\s+{page}$", index, re.M) for page in pages), pages
