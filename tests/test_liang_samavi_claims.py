"""claims/liang_samavi.yaml (Liang & Samavi, Noisy Logit + Ensemble Voting + Rank Verification):
it validates, its tables are well formed, every registered cell (Tables 2, 4 and 5) is re-read
independently from the paper's text, every garbled or missing cell is null and its raw text is
where the file says, and the paper's own numbers satisfy the statements registered on them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from paperlib.claims import CLAIMS_DIR, load_claims, load_claims_file, make_claim

PAPER = Path(__file__).resolve().parents[1].parent / "shared/papers/004_b8eaa438eb1a0e26.txt"
TABLES = ("table2a", "table2b", "table2c", "table4a", "table4b", "table4c", "table4d",
          "table5a", "table5b", "table5c", "table5d")
N_CELLS, N_NULL, N_CLAIMS = 124, 10, 16
KINDS = {"member_accuracy", "cell", "difference", "gap_difference", "transfer_difference", "perturbation_shift",
         "certificate_violation"}
LABELS = {
    "mnist_ensemble": "MNIST Ensemble", "mnist_ensemble_nl": "MNIST Ensemble with NL",
    "mnist_ensemble_nl_rv": "MNIST Ensemble with NL+RV(0.05)", "cifar10_ensemble": "CIFAR10 Ensemble",
    "cifar10_ensemble_nl": "CIFAR10 Ensemble with NL", "cifar10_ensemble_nl_rv": "CIFAR10 Ensemble with NL+RV(0.05)",
    "mnist_single": "MNIST Single", "mnist_single_nl": "MNIST Single with NL", "cifar10_single": "CIFAR10 Single",
    "cifar10_single_nl": "CIFAR10 Single with NL",
}
# A printed percentage: "90.519%", "100.00%", Table 2a's "90.5199" ("%" extracted as "9") and the
# "24 446%" of Table 4d (a space for the point).
NUMBER = re.compile(r"^(\d{1,3})[. ](\d{2,3})(?:%|9)?$")


@pytest.fixture(scope="module")
def data() -> dict:
    return load_claims_file("liang_samavi")


@pytest.fixture(scope="module")
def lines() -> list[str]:
    if not PAPER.is_file():
        pytest.skip(f"{PAPER} not found (the papers sit in ../shared beside the repository)")
    return PAPER.read_text().splitlines()


def _block(lines: list[str], start: str, end: str, after: int = 0) -> tuple[int, list[str]]:
    i = next(k for k in range(after, len(lines)) if lines[k].startswith(start))
    j = next(k for k in range(i + 1, len(lines)) if lines[k].startswith(end))
    return j, lines[i:j]


def _percent(field: str) -> float | None:
    m = NUMBER.match(field.strip())
    return None if m is None else round(float(f"{m.group(1)}.{m.group(2)}") / 100, 6)


def _rows(block: list[str]) -> dict[str, list[float | None]]:
    """Lines ``<label>\\t<value>\\t<value>...``: the values of each labelled row."""
    out = {}
    names = sorted(LABELS, key=lambda n: -len(LABELS[n]))
    for k, line in enumerate(block):
        fields = line.split("\t")
        if fields[0] == "" and k + 1 < len(block):
            # Table 2a's last row: its values precede its label, which runs into the next part's
            # title on the following line ("CIFAR10 Ensemble with NL+RV(0.05) (b) Adversar...")
            label = next((n for n in names if block[k + 1].startswith(LABELS[n] + " ")), None)
            if label is not None:
                out[label] = [_percent(f) for f in fields[1:] if f.strip()][:2]
            continue
        name = next((n for n in names if fields[0] == LABELS[n] or fields[0] == "CIFAR10 Ensemble with NI" and n == "cifar10_ensemble_nl"), None)
        if name is not None:
            out[name] = [_percent(f) for f in fields[1:] if f.strip()]
    return out


def _cumulative(block: list[str], names: list[str]) -> dict[str, list[float]]:
    """Tables 2b and 5d, extracted column by column on one line: ``labels\\t... v1 v2 v3\\t...``."""
    line = max(block, key=len)
    columns = [re.findall(r"(\d+\.\d+)%", f) for f in line.split("\t")[1:]]
    columns = [[round(float(v) / 100, 6) for v in c] for c in columns if c]
    return {name: [c[k] for c in columns] for k, name in enumerate(names)}


CUMULATIVE_ROWS = ["mnist_ensemble", "mnist_ensemble_nl", "cifar10_ensemble"]
# Each table part in the order of the text: where its block starts and ends, and how it is read
# (None: a line per row; a row list: extracted column by column on one line).
PARTS = [
    ("table2a", "(a).\tAccuracy", "(b) Adversa", None),
    ("table2b", "(b) Adversa", "Model\tCorrect", CUMULATIVE_ROWS),
    ("table2c", "Model\tCorrect", "Table 2:", None),
    ("table4a", "(a) Average single\tnetwork", "(b) Accuracy of the ensembles", None),
    ("table4b", "(b) Accuracy of the ensembles", "(c) Breakdov", None),
    ("table4c", "(c) Breakdov", "(d) Average perturbation", None),
    ("table4d", "(d) Average perturbation", "Table 4:", None),
    ("table5a", "Network\tClean Accuracy\tSI3", "(b) Accuracy of the ensembles", None),
    ("table5b", "(b) Accuracy of the ensembles", "(c) Breakdow", None),
    ("table5c", "(c) Breakdow", "(d) Average perturbation", None),
    ("table5d", "(d) Average perturbation", "Table 5:", CUMULATIVE_ROWS),
]


def reread(lines: list[str]) -> dict[str, dict[str, list]]:
    """Every table part, re-read from the paper's text (and, under ``_raw``, each part's lines)."""
    t, raw, end = {}, {}, 0
    for name, start, stop, cumulative in PARTS:
        end, block = _block(lines, start, stop, after=end)
        t[name] = _rows(block) if cumulative is None else _cumulative(block, cumulative)
        raw[name] = block
    t["_raw"] = raw
    return t


def _cell(data: dict, name: str) -> float | None:
    table, row, col = name.split(":")
    t = data["tables"][table]
    return t["values"][row][t["columns"].index(col)]


def test_all_claims_validate(data):
    claims = load_claims("liang_samavi")
    assert set(claims) == set(data["claims"]) and len(claims) == N_CLAIMS
    assert set(data) == {"title", "settings", "tables", "claims"}
    for c in claims.values():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", c.claim_id), c.claim_id
        assert c.statement.strip() and c.where.strip() and c.unit.strip(), c.claim_id
        assert c.rule in ("above", "below") or (c.reason.strip() and "\n" not in c.reason), c.claim_id
        if c.claim_id != "cifar10_teacher_accuracy":   # registered before this file (by the former vertical slice)
            assert c.test.get("kind") in KINDS, c.claim_id
    # the liang_tables stage reads this claim by id: it is unchanged
    assert claims["cifar10_teacher_accuracy"].paper_value == pytest.approx(0.7242)
    assert claims["mnist_member_accuracy"].paper_value == pytest.approx(0.9403)


def test_tables_are_well_formed_and_count_124_cells(data):
    tables = data["tables"]
    assert tuple(tables) == TABLES
    cells = nulls = 0
    for name, t in tables.items():
        assert set(t["values"]) == set(t["rows"]) and len(set(t["rows"])) == len(t["rows"]), name
        assert t["columns"] in (["clean", "attack"], ["correct", "target", "other"]), name
        assert "\n" not in t["reason"], name
        for row in t["rows"]:
            assert row in LABELS, (name, row)
            values = t["values"][row]
            assert len(values) == len(t["columns"]), (name, row)
            for col, v in zip(t["columns"], values):
                cells += 1
                if v is None:
                    nulls += 1
                    assert col in t.get("garbled", {}).get(row, {}), f"{name}:{row}:{col} is null but not listed as garbled"
                else:
                    assert isinstance(v, float) and 0.0 <= v <= 1.0, (name, row, col, v)
                    # each legible cell through the validating loader, with its table's rule and reason
                    make_claim("liang_samavi", f"{name}_{row}_{col}",
                               {"statement": f"{name} {row} {col}", "where": t["where"], "paper_value": v,
                                "rule": t["rule"], "tolerance": t["tolerance"], "reason": t["reason"]},
                               CLAIMS_DIR / "liang_samavi.yaml")
    assert (cells, nulls) == (N_CELLS, N_NULL)


def test_every_legible_cell_is_reread_from_the_paper(data, lines):
    text = reread(lines)
    for name, t in data["tables"].items():
        got = text[name]
        for row in t["rows"]:
            registered = t["values"][row]
            garbled = t.get("garbled", {}).get(row, {})
            if all(v is None for v in registered):      # a row the extraction lost
                assert row not in got, (name, row)
                assert set(garbled.values()) == {"row missing"}, (name, row)
                continue
            assert row in got, (name, row)
            for col, v, g in zip(t["columns"], registered, got[row]):
                if v is None:
                    continue
                assert g == pytest.approx(v, abs=5e-7), f"{name}:{row}:{col}: registered {v}, the text reads {g}"


def test_garbled_cells_are_where_the_file_says(data, lines):
    raw = reread(lines)["_raw"]
    for name, t in data["tables"].items():
        for row, cols in t.get("garbled", {}).items():
            for col, text in cols.items():
                if text == "row missing":
                    continue
                if col == "label":
                    assert any(line.startswith(text + "\t") for line in raw[name]), (name, row, text)
                else:   # the file writes the extraction's tabs as spaces
                    assert any(text in line.replace("\t", " ") for line in raw[name]), (name, row, col, text)
    # the one cell that stays null among legible neighbours: its digits do not say 99.810 or 90.810
    assert data["tables"]["table2a"]["values"]["cifar10_ensemble_nl_rv"] == [None, 0.96643]


def test_settings_are_the_printed_ones(data, lines):
    s = data["settings"]
    text = "\n".join(lines)
    assert "Training Set Size (Per Network)\t1100\t45000" in text and s["table1"]["training_set_per_network"] == [1100, 45000]
    assert "Epochs\t3000\t150" in text and s["table1"]["epochs"] == [3000, 150]
    assert "Gaussian Noise Sigma\t0.5\t0.03" in text and s["table1"]["noise_sigma"] == [0.5, 0.03]
    assert "SI2\t30\t30x9x50=13500\t180" in text and s["table3"]["values"]["si2"] == [30, 13500, 180]
    assert "SI3\t20\t20x9x50=9000\t270" in text and s["table3"]["values"]["si3"] == [20, 9000, 270]
    assert "9 \\times 50 \\times 15 = 6750" in text and s["text"]["single_network_attack"]["examples"] == 6750
    assert "was 94.03%" in text and "was 72.42%" in text


def _paper_rows(data: dict, claim) -> list[float] | None:
    """The claim's measured quantity computed from the paper's own cells (None: not computable)."""
    test = claim.test
    if test.get("kind") == "difference":
        pairs = [(_cell(data, a), _cell(data, b)) for a, b in test["pairs"]]
        return [a - b for a, b in pairs if a is not None and b is not None]
    if test.get("kind") == "gap_difference":
        return [(_cell(data, a) - _cell(data, b)) - (_cell(data, c) - _cell(data, d)) for a, b, c, d in test["quads"]]
    return None


def test_the_papers_own_numbers_satisfy_the_claims_built_on_them(data):
    claims = load_claims("liang_samavi")
    checked = 0
    for c in claims.values():
        values = _paper_rows(data, c)
        if values is None:
            continue
        assert values, f"{c.claim_id}: every cell it compares is null"
        for v in values:
            ok = {"above": v > c.paper_value, "below": v < c.paper_value,
                  "at_most": v <= c.paper_value + c.tolerance, "at_least": v >= c.paper_value - c.tolerance,
                  "equivalent": abs(v - c.paper_value) <= c.tolerance}[c.rule]
            assert ok, f"{c.claim_id}: the paper's own value {v:.4f} fails its rule {c.rule} {c.paper_value} +- {c.tolerance}"
        checked += 1
    assert checked == 11
    # the conclusion's reading: NL without RV would fail it (13.9 points under SN on MNIST)
    assert _cell(data, "table2a:mnist_ensemble_nl:attack") - _cell(data, "table2a:mnist_ensemble_nl:clean") < -0.05


def test_the_text_repeats_table_cells_registered_once(data, lines):
    text = "\n".join(lines)
    assert "reduced to 55.30% from 96.80%" in text
    assert _cell(data, "table4a:mnist_single:attack") == pytest.approx(0.55296)
    assert "from 79.53% to 66.48%" in text
    assert _cell(data, "table4a:cifar10_single:clean") == pytest.approx(0.79533)
    assert "with only 22% accuracy" in text and _cell(data, "table5b:mnist_ensemble:attack") == pytest.approx(0.22222)


def test_table3_tests_column_is_swapped_as_the_breakdowns_show(data):
    """Table 3 prints 180 SI2 tests and 270 SI3 tests, but a test is one (input, target) pair: 30 x 9 = 270
    for SI2 and 20 x 9 = 180 for SI3. The paper's own breakdowns agree with the second reading: every
    share of Table 4(c) is a multiple of 1/270 and every share of Table 5(c) a multiple of 1/180, while
    neither is a multiple of the printed count. liang_tables counts tests as inputs x targets."""
    def whole(values, n):
        return all(abs(v * n - round(v * n)) < 0.02 for v in values)

    printed = data["settings"]["table3"]["values"]
    assert printed["si2"][2] == 180 and printed["si3"][2] == 270      # as printed
    t4c = [v for row in data["tables"]["table4c"]["values"].values() for v in row if v is not None]
    t5c = [v for row in data["tables"]["table5c"]["values"].values() for v in row if v is not None]
    assert whole(t4c, 30 * 9) and not whole(t4c, printed["si2"][2])
    assert whole(t5c, 20 * 9) and not whole(t5c, printed["si3"][2])
