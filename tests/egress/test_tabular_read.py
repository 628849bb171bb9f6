"""The bounded, UTF-8 read of an import file (egress/tabular.py's read_text), as both imports use it."""

from __future__ import annotations

import pytest

from smtp_egress.errors import InputError
from smtp_egress.limits import MAX_WORKSPACES_BYTES
from smtp_egress.smtp.importing import read_servers
from smtp_egress.tabular import read_text
from smtp_egress.workspaces import read_workspaces


def test_the_text_comes_without_its_byte_order_mark(tmp_path):
    path = tmp_path / "w.csv"
    path.write_bytes(b"\xef\xbb\xbfworkspace_id,region\n")
    assert read_text(path, "the workspaces file") == "workspace_id,region\n"


@pytest.mark.parametrize(
    "reader, what", [(read_servers, "servers"), (lambda p: read_workspaces(p, {"us"}), "workspaces")]
)
def test_each_import_names_its_file_when_it_cannot_be_used(tmp_path, reader, what):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"workspace_id,host\nw\xe9,h\n")
    with pytest.raises(InputError, match=rf"latin.csv: the {what} file is not UTF-8 text$"):
        reader(latin)
    with pytest.raises(InputError, match=rf"nope.csv: cannot read the {what} file: No such file or directory$"):
        reader(tmp_path / "nope.csv")
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as f:
        f.truncate(MAX_WORKSPACES_BYTES + 1)
    with pytest.raises(InputError, match=rf"huge.csv: the {what} file is larger than {MAX_WORKSPACES_BYTES} bytes$"):
        reader(huge)
