"""A folder `datasets` wrote imports through the API and the import page as one upload,
a .zip or a .tar.gz of it, under the same limits as a gzipped file: the unpacked bytes
count against the import limit (413), a member that points outside the folder or is a
link is refused before anything is written (400 naming it), and a damaged archive gets
a 400 that says what it is."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import datasets
import pytest
from django.urls import reverse

from collection.models import Campaign
from tests.collection.test_imports_datasets import api_import
from tests.factories import AudienceFactory, make_campaign, make_researcher

pytestmark = pytest.mark.django_db

ULTRAFEEDBACK = [
    {
        "prompt": "Name a prime.",
        "chosen": [
            {"role": "user", "content": "Name a prime."},
            {"role": "assistant", "content": "7"},
        ],
        "rejected": [
            {"role": "user", "content": "Name a prime."},
            {"role": "assistant", "content": "9"},
        ],
        "prompt_id": "p1",
    },
    {
        "prompt": "Is water wet?",
        "chosen": [
            {"role": "user", "content": "Is water wet?"},
            {"role": "assistant", "content": "  It makes things wet. "},
        ],
        "rejected": [
            {"role": "user", "content": "Is water wet?"},
            {"role": "assistant", "content": ""},
        ],
        "prompt_id": "p2",
    },
]


@pytest.fixture
def owner():
    return make_researcher(username="archiver")


@pytest.fixture
def campaign(owner) -> Campaign:
    return make_campaign(audiences={AudienceFactory(): 2}, items=0, owners=[owner], slug="uf")


@pytest.fixture
def saved(tmp_path) -> Path:
    """A folder written by datasets' own save_to_disk (state.json and Arrow files)."""
    folder = tmp_path / "ultrafeedback"
    datasets.Dataset.from_list(ULTRAFEEDBACK).save_to_disk(str(folder))
    return folder


def zipped(folder: Path, *, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            archive.write(file, f"{folder.name}/{file.relative_to(folder)}")
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
    return buffer.getvalue()


def tar_gzipped(folder: Path, *, add=None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(folder, arcname=folder.name)
        if add:
            add(archive)
    return buffer.getvalue()


def check_imported(campaign: Campaign) -> None:
    first, second = campaign.items.order_by("id")
    assert first.prompt == "Name a prime."
    assert {c["text"] for c in first.candidates} == {"7", "9"}
    texts = {c["source"]: c["text"] for c in second.candidates}
    assert texts == {"dataset:chosen": "  It makes things wet. ", "dataset:rejected": ""}


@pytest.mark.parametrize("pack, name", [(zipped, "uf.zip"), (tar_gzipped, "uf.tar.gz")])
def test_a_datasets_folder_imports_through_the_api_as_a_zip_or_a_tar_gz(
    owner, campaign, saved, pack, name
):
    answer = api_import(owner, campaign, pack(saved), name)
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["created"], body["format"], body["unit"]) == (2, "pairs", "Row")
    assert body["shapes"]["empty_replies"] == 1
    check_imported(campaign)


def test_a_to_parquet_folder_imports_as_a_zip(owner, campaign, tmp_path):
    folder = tmp_path / "parquet"
    folder.mkdir()
    datasets.Dataset.from_list(ULTRAFEEDBACK).to_parquet(str(folder / "train.parquet"))
    answer = api_import(owner, campaign, zipped(folder), "uf.zip")
    assert answer.status_code == 201, answer.content
    check_imported(campaign)


def test_an_archive_unpacking_past_the_import_limit_gets_a_413(owner, campaign, saved, settings):
    content = zipped(saved, extra={"ultrafeedback/padding.bin": b"\0" * 200_000})
    settings.IMPORT_MAX_BYTES = len(content) + 50_000  # the upload passes, its contents not
    answer = api_import(owner, campaign, content, "bomb.zip")
    assert answer.status_code == 413, answer.content
    assert "Unpacked, the archive passes the limit" in answer.json()["detail"]
    assert not campaign.items.exists()


def test_a_member_outside_the_folder_is_refused_and_nothing_is_written(
    owner, campaign, saved, tmp_path
):
    content = zipped(saved, extra={"../../escaped.txt": b"owned"})
    answer = api_import(owner, campaign, content, "evil.zip")
    assert answer.status_code == 400
    assert answer.json()["field"] == "file"
    assert "'../../escaped.txt' points outside the folder" in answer.json()["detail"]
    assert not list(Path("/tmp").glob("escaped.txt")) and not campaign.items.exists()
    absolute = zipped(saved, extra={"/etc/pluralign-evil": b"x"})
    answer = api_import(owner, campaign, absolute, "abs.zip")
    assert answer.status_code == 400 and "'/etc/pluralign-evil'" in answer.json()["detail"]


def test_a_symlink_in_the_archive_is_refused_naming_it(owner, campaign, saved):
    def link(archive: tarfile.TarFile) -> None:
        member = tarfile.TarInfo("ultrafeedback/passwd")
        member.type, member.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(member)

    answer = api_import(owner, campaign, tar_gzipped(saved, add=link), "link.tar.gz")
    assert answer.status_code == 400
    assert "'ultrafeedback/passwd' is a link or a device" in answer.json()["detail"]
    info = zipfile.ZipInfo("ultrafeedback/passwd")
    info.external_attr = (0o120777) << 16
    buffer = io.BytesIO(zipped(saved))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr(info, "/etc/passwd")
    answer = api_import(owner, campaign, buffer.getvalue(), "link.zip")
    assert answer.status_code == 400 and "is a link or a device" in answer.json()["detail"]
    assert not campaign.items.exists()


def test_a_damaged_archive_gets_a_400_saying_so(owner, campaign, saved):
    content = zipped(saved)
    answer = api_import(owner, campaign, content[: len(content) // 2], "cut.zip")
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("file: Not a readable zip archive")
    cut = tar_gzipped(saved)
    answer = api_import(owner, campaign, cut[: len(cut) // 2], "cut.tar.gz")
    assert answer.status_code == 400 and "Not a readable tar archive" in answer.json()["detail"]
    lonely = io.BytesIO()
    with zipfile.ZipFile(lonely, "w") as archive:
        archive.writestr("notes/readme.txt", "no data here")
    answer = api_import(owner, campaign, lonely.getvalue(), "notes.zip")
    assert answer.status_code == 400 and "Not a dataset folder" in answer.json()["detail"]
    assert not campaign.items.exists()


def test_the_import_page_takes_a_zipped_datasets_folder(client, owner, campaign, saved, settings):
    client.force_login(owner)
    url = reverse("workbench:item_import", args=[campaign.slug])
    upload = io.BytesIO(zipped(saved))
    upload.name = "uf.zip"
    page = client.post(url, {"file": upload, "format": "auto"})
    assert page.status_code == 200, page.content.decode()[-2000:]
    text = page.content.decode()
    assert "Imported 2 items." in text
    assert "1 empty reply, kept as an empty candidate." in text
    check_imported(campaign)
    big = zipped(saved, extra={"ultrafeedback/pad.bin": b"\0" * 200_000})
    settings.IMPORT_MAX_BYTES = len(big) + 50_000
    upload = io.BytesIO(big)
    upload.name = "big.zip"
    page = client.post(url, {"file": upload, "format": "auto"})
    assert page.status_code == 413 and "Unpacked, the archive passes" in page.content.decode()
    assert campaign.items.count() == 2
