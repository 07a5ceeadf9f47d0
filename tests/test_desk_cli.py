"""``ocop-bot web link`` and ``ocop-bot import products`` as the operator runs them (``main()`` in
this process; the database is made by the real command)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import ocop, ocop_here
from tests.test_desk_excel import product, sheet


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("desk-cli") / "var"
    done = ocop(path, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    return path


def test_web_link_only_for_officers(data_dir: Path) -> None:
    added = ocop_here(data_dir, "officer", "add", "--commune", "03390", "--telegram-id", "777")
    assert added.returncode == 0, added.stderr
    link = ocop_here(data_dir, "web", "link", "--officer", "1")
    assert link.returncode == 0, link.stderr
    url = link.stdout.splitlines()[0]
    assert url.startswith("http://127.0.0.1:") and "/desk/signin/" in url
    assert "10 minutes" in link.stdout
    again = ocop_here(data_dir, "web", "link", "--officer", "1").stdout.splitlines()[0]
    assert again != url  # every link is new
    missing = ocop_here(data_dir, "web", "link", "--officer", "999")
    assert missing.returncode == 1 and "999" in missing.stderr


def test_import_products_dry_run_then_real(data_dir: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.xlsx"
    good.write_bytes(
        sheet(
            [
                product(1),
                product(2, address="xã Nhân Thịnh, huyện Lý Nhân, tỉnh Hà Nam", province=None),
            ]
        )
    )
    dry = ocop_here(data_dir, "import", "products", str(good), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "row 2:" in dry.stdout and "commune 13609" in dry.stdout
    assert "2 product(s) would be created" in dry.stdout
    real = ocop_here(data_dir, "import", "products", str(good))
    assert real.returncode == 0 and "Imported 2" in real.stdout
    listed = ocop_here(data_dir, "dossier", "list")
    assert "Sản phẩm 1" in listed.stdout and "Sản phẩm 2" in listed.stdout
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(sheet([product(3), product(4, stars=7), product(1)]))
    refused = ocop_here(data_dir, "import", "products", str(bad))
    assert refused.returncode == 1
    assert "row 3: số sao phải là 3, 4 hoặc 5" in refused.stdout
    assert "row 4: số quyết định 1/QĐ-UBND đã có" in refused.stdout
    assert "nothing stored" in refused.stdout
    assert "Sản phẩm 3" not in ocop_here(data_dir, "dossier", "list").stdout
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a spreadsheet")
    out = ocop_here(data_dir, "import", "products", str(junk))
    assert out.returncode == 1 and "không phải bảng tính" in out.stderr
