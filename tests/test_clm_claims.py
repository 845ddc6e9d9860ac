"""claims/clm.yaml (Jasser & Garibay, Counter-Linked Models): it validates, its tables are well
formed, and every registered number is re-read, independently, from the paper's text."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from paperlib.claims import CLAIMS_DIR, make_claim, load_claims, load_claims_file, parse_budget

PAPER = Path(__file__).resolve().parents[1].parent / "shared/papers/002_36a8891efbf8cffd.txt"
TABLES = ("table1", "table2", "table3", "table4", "table5")
POPULATIONS = {"ULM", "CLM", "ULM-Adv", "CLM-Adv"}
DATASETS = {"mnist", "cifar10"}
PRINTED_NUMBERS = 8 + 20 + 20 + 10 + 10


@pytest.fixture(scope="module")
def data() -> dict:
    return load_claims_file("clm")


def _cells(table: dict):
    for row in table["rows"]:
        for col, value in zip(table["columns"], table["values"][row]):
            yield row, col, value


def _population_axis(table: dict) -> list[str]:
    return table["rows"] if table["rows_are"] == "populations" else table["columns"]


def _condition_axis(table: dict) -> tuple[str, list[str]]:
    """The other axis: (test key naming it, its labels)."""
    return ("columns", table["columns"]) if table["rows_are"] == "populations" else ("rows", table["rows"])


def test_all_claims_validate(data):
    claims = load_claims("clm")
    assert set(claims) == set(data["claims"])
    assert len(claims) == 16
    assert data["title"] == "Jasser & Garibay: Counter-Linked Models (CLM)"
    for c in claims.values():
        assert c.statement.strip() and c.where.strip() and c.unit.strip()
        assert c.rule in ("above", "below") or c.reason.strip()
        assert "\n" not in c.reason
        assert c.test.get("kind"), c.claim_id


def test_tables_are_well_formed(data):
    tables = data["tables"]
    assert set(tables) == set(TABLES)
    for name, t in tables.items():
        assert t["rows_are"] in ("populations", "attacks"), name
        assert set(t["values"]) == set(t["rows"]), name
        assert len(set(t["rows"])) == len(t["rows"]) and len(set(t["columns"])) == len(t["columns"])
        for row in t["rows"]:
            cells = t["values"][row]
            assert isinstance(cells, list) and len(cells) == len(t["columns"]), (name, row)
            for v in cells:
                assert isinstance(v, float) and not isinstance(v, bool), (name, row, v)
                assert 0.0 <= v <= 1.0, (name, row, v)
        assert set(_population_axis(t)) <= POPULATIONS, name
        parse_budget(t["eps"], name)
        if t["rows_are"] == "attacks":
            assert t["dataset"] in DATASETS, name
        else:
            assert set(t["columns"]) <= DATASETS, name
        # The table's rule, tolerance and reason go through the validating loader, cell by cell.
        for row, col, v in _cells(t):
            entry = {"statement": f"{name} {row} {col}", "where": t["where"], "paper_value": v, "rule": t["rule"]}
            entry.update({k: t[k] for k in ("tolerance", "reason") if k in t})
            make_claim("clm", f"{name}_{row}_{col}", entry, CLAIMS_DIR / "clm.yaml")
    assert [tables[n]["eps"] for n in TABLES] == [0, 0.3, "8/255", 0.4, "16/255"]
    assert [tables[n].get("dataset") for n in TABLES[1:]] == ["mnist", "cifar10", "mnist", "cifar10"]


def test_68_numbers_are_registered(data):
    assert sum(len(list(_cells(data["tables"][n]))) for n in TABLES) == PRINTED_NUMBERS


# ---- independent re-reading of the paper's text ----

def _paper_blocks(text: str) -> list[tuple[list[str], list[tuple[str, list[str]]]]]:
    """The tab-separated table blocks of the extraction, in order: (header, [(label, cells)])."""
    blocks, current = [], None
    for line in text.splitlines():
        if line.startswith(("Model\\Attack\t", "Attack\\Model\t")):
            current = (line.split("\t"), [])
            blocks.append(current)
        elif current is not None and "\t" in line:
            label, *cells = line.split("\t")
            current[1].append((label.strip(), [c.strip() for c in cells]))
        else:
            current = None
    return blocks


@pytest.fixture(scope="module")
def paper_text() -> str:
    if not PAPER.is_file():
        pytest.skip(f"{PAPER} is not here")
    return PAPER.read_text()


@pytest.fixture(scope="module")
def paper_tables(paper_text) -> dict[str, tuple[list[str], list[tuple[str, list[str]]]]]:
    blocks = _paper_blocks(paper_text)
    benign = [b for b in blocks if b[0][0] == "Model\\Attack"]
    four = [b for b in blocks if b[0] == ["Attack\\Model", "ULM", "CLM", "ULM-Adv", "CLM-Adv"]]
    two = [b for b in blocks if b[0] == ["Attack\\Model", "ULM-Adv", "CLM-Adv"]]
    assert (len(benign), len(four), len(two), len(blocks)) == (1, 2, 2, 5)
    # The extraction's order: Table 2 then 3 (4 populations), Table 4 then 5 (the Adv pair).
    return {"table1": benign[0], "table2": four[0], "table3": four[1], "table4": two[0], "table5": two[1]}


def test_paper_prints_68_percentages_in_its_tables(paper_tables):
    cells = [c for _, rows in paper_tables.values() for _, cs in rows for c in cs]
    assert len(cells) == PRINTED_NUMBERS
    assert all(re.fullmatch(r"\d{1,3}\.\d{2}%", c) for c in cells), cells


@pytest.mark.parametrize("name", TABLES)
def test_registered_numbers_are_the_papers(data, paper_text, paper_tables, name):
    t = data["tables"][name]
    header, rows = paper_tables[name]
    labels = {"MNIST": "mnist", "CIFAR-10": "cifar10"}
    assert [labels.get(h, h) for h in header[1:]] == t["columns"]
    assert [label for label, _ in rows] == t["rows"]
    for (label, printed), row in zip(rows, t["rows"]):
        registered = [f"{100 * v:.2f}%" for v in t["values"][row]]
        assert registered == printed, (name, row)
        for cell in registered:
            assert cell in paper_text
            # the number sits on its own row's line of the paper
            assert re.search(rf"^{re.escape(label)}\t.*{re.escape(cell)}", paper_text, re.M), (name, row, cell)


def test_captions_name_the_registered_dataset_and_budget(data, paper_text):
    captions = {m.group(1): m.group(2) for m in re.finditer(r"^Table (\d): (.*)$", paper_text, re.M)}
    assert set(captions) == {"1", "2", "3", "4", "5"}
    assert "benign" in captions["1"]
    names = {"mnist": "MNIST", "cifar10": "CIFAR-10"}
    for name in TABLES[1:]:
        t = data["tables"][name]
        caption = captions[name[-1]]
        assert names[t["dataset"]] in caption, name
        if name != "table3":  # Table 3's caption prints no budget (8/255 is in Section 4.1's text)
            assert str(t["eps"]) in caption, name
    assert "8/255" in paper_text


def test_test_mappings_name_existing_rows_and_columns(data):
    tables = data["tables"]
    for cid, entry in data["claims"].items():
        test = entry["test"]
        if "table" in test:
            t = tables[test["table"]]
            pops = _population_axis(t)
            key, conditions = _condition_axis(t)
            if "compare" in test:
                assert set(test["compare"]) <= set(pops) and len(test["compare"]) == 2, cid
            if "population" in test:
                assert test["population"] in pops, cid
            for k in ("rows", "columns"):
                if k in test:
                    assert k == key, (cid, k)
                    assert test[k] and set(test[k]) <= set(conditions), (cid, k)
            if "compare_row" in test:
                assert test["compare_row"] in t["rows"] and test["compare_row"] not in test["rows"], cid
            if test["kind"] == "difference":
                assert "compare" in test and key in test, cid
        else:
            if "compare" in test:
                assert set(test["compare"]) <= POPULATIONS and len(test["compare"]) == 2, cid
            if "population" in test:
                assert test["population"] in POPULATIONS, cid
            sets = test.get("datasets", [test.get("dataset")])
            assert sets and set(sets) <= DATASETS, cid


def test_attack_difference_test_has_compare_row_and_population(data):
    test = data["claims"]["mnist_clm_best_under_eot"]["test"]
    assert test["kind"] == "attack_difference"
    assert test["population"] == "CLM" and test["compare_row"] == "PGD-EOT"


def test_make_claim_rejects_a_tolerance_on_a_strict_rule(data):
    entry = copy.deepcopy(data["claims"]["mnist_clm_better_all"])
    assert entry["rule"] == "above"
    make_claim("clm", "mnist_clm_better_all", entry, "clm.yaml")
    with pytest.raises(ValueError, match="takes no tolerance"):
        make_claim("clm", "mnist_clm_better_all", {**entry, "tolerance": 0.01, "reason": "r"}, "clm.yaml")
    with pytest.raises(ValueError, match="takes no tolerance"):
        make_claim("clm", "mnist_clm_better_all", {**entry, "tolerance": 0.0}, "clm.yaml")
    tolerant = copy.deepcopy(data["claims"]["mnist_adv_similar"])
    del tolerant["reason"]
    with pytest.raises(ValueError, match="reason"):
        make_claim("clm", "mnist_adv_similar", tolerant, "clm.yaml")
