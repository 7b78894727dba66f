"""The four-level classification: the shipped sample and the validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.tickets.errors import TaxonomyError, UnknownClassification
from hotline.tickets.taxonomy import Level, Taxonomy, load_taxonomy, parse_taxonomy


def test_the_shipped_sample_is_valid_and_covers_the_domains(taxonomy: Taxonomy) -> None:
    counts = taxonomy.counts()
    assert all(counts[level] > 0 for level in Level)
    assert counts[Level.DOMAIN] >= 10 and counts[Level.RESPONSIBILITY_ITEM] >= 100
    domains = {node.name for node in taxonomy.children(None)}
    for name in ("城市管理", "劳动和社会保障", "交通运输", "住房和城乡建设", "生态环境", "公共安全"):
        assert name in domains
    labels = [taxonomy.label(n.code) for n in taxonomy if n.level is Level.RESPONSIBILITY_ITEM]
    assert any("共享单车" in label and "人行道" in label for label in labels)
    assert all(n.department for n in taxonomy if n.level is Level.RESPONSIBILITY_ITEM)


def test_paths_and_items(taxonomy: Taxonomy) -> None:
    item = taxonomy.item("01010101")
    assert item.department == "区城市管理局"
    assert [n.level for n in taxonomy.path("01010101")] == list(Level)
    assert taxonomy.ancestor("01010101", Level.PROBLEM_TYPE).name == "共享单车管理"
    with pytest.raises(UnknownClassification, match="level 4"):
        taxonomy.item("0101")
    with pytest.raises(UnknownClassification, match="no such code"):
        taxonomy.item("99999999")


BAD = """code,parent,level,name,department
01,,1,城市管理,
0101,01,2,共享单车管理,
010101,0101,3,乱停乱放,
01010101,010101,4,停放监管,
01010101,010101,4,重复,区城管局
02,01,1,有父节点的领域,
0201,09,2,父节点不存在,
020101,01,3,父节点层级不对,
0301,,2,缺少父节点,
030101,0301,5,层级错误,
04,,1,,
0401,04,2,没有下级,
0402,04,2,有部门,某局
"""


def test_validation_finds_every_problem() -> None:
    _, problems = parse_taxonomy(BAD, "bad.csv")
    text = "\n".join(problems)
    for expected in (
        "(01010101): a responsibility item must name its department",
        "duplicate code",
        "02: a domain (level 1) has no parent",
        "0201: parent 09 does not exist",
        "020101: parent 01 is level 1, expected 2",
        "0301: level 2 needs a parent",
        "level must be 1-4",
        "empty name",
        "0401: 问题类型 '没有下级' has no children",
        "only responsibility items (level 4) name a department",
    ):
        assert expected in text, expected


def test_load_raises_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.csv"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(TaxonomyError) as info:
        load_taxonomy(path)
    assert len(info.value.problems) >= 10 and info.value.source == str(path)
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.csv")


def test_a_wrong_header_is_reported() -> None:
    _, problems = parse_taxonomy("id,name\n1,x\n")
    assert problems and "header" in problems[0]
