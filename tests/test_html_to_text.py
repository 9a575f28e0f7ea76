"""HtmlToText keeps a page however often the process has seen it (no hidden cross-run cache)."""

from goose import Pipeline
from goose.operators import HtmlToText, PrepareText

PAGE = (
    "<html><body><nav>Home | About</nav><article><h1>Salting passwords</h1>"
    + "<p>A salt is a random value stored with each password hash. Because every user gets a "
    "different salt, two equal passwords produce different hashes, so one precomputed table "
    "cannot crack them all at once and an attacker must attack each hash separately.</p>" * 3
    + "</article><footer>Copyright</footer></body></html>"
)


def test_the_same_page_gives_the_same_text_in_every_run():
    runs = [Pipeline([PrepareText(), HtmlToText()]).run([{"id": "p", "text": PAGE}]) for _ in range(3)]
    texts = [run.tasks.column("text").to_pylist() for run in runs]
    assert texts[0] and "salt is a random value" in texts[0][0] and texts[0] == texts[1] == texts[2]
