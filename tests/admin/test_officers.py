"""Named officers (Perwako Batam 65/2021 Pasal 6(3)): every command acts as a registered,
active officer whose role allows it; the data administrator (`pdp`) is named to residents."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.core import TyperGroup
from typer.main import get_command

from admin_cli.app import RULES, app
from admin_cli.common import Access, rule_for
from bot.runtime import flow_config
from bot.settings import SettingsError, load_settings
from storage.db import Database
from storage.models import AuditLog, Officer
from tests.admin.conftest import Admin
from tests.harness import Harness, StepClock, register_warga


def commands(group: Any = None, prefix: str = "") -> dict[str, Any]:
    """Every command `sijakon-admin` has, by its path ("tukang activate"), as Typer built it."""
    group = group or get_command(app)
    found: dict[str, Any] = {}
    for name, cmd in group.commands.items():
        path = f"{prefix} {name}".strip()
        if isinstance(cmd, TyperGroup):
            found |= commands(cmd, path)
        else:
            found[path] = cmd
    return found


def sample_args(path: str, cmd: Any, tmp_path: Path) -> list[str]:
    """The command with a made-up value for each required argument and option, enough for
    Click to accept the line (the officer check comes after the arguments are read)."""
    args = path.split()
    for p in cmd.params:
        if not p.required:
            continue
        kind = getattr(getattr(p, "type_descriptor", None), "annotation", str)  # Typer's
        if isinstance(kind, type) and issubclass(kind, Enum):
            value = str(next(iter(kind)).value)
        elif kind in (int, float):
            value = str(getattr(p, "min", None) or 1)
        elif kind is Path:
            value = str(tmp_path / "sample")
        else:
            value = "x"
        args += [value] if p.param_type_name == "argument" else [p.opts[0], value]
    return args


async def audit_count(db: Database) -> int:
    async with db.read() as s:
        return int((await s.execute(select(func.count()).select_from(AuditLog))).scalar() or 0)


async def officers(db: Database) -> dict[str, Officer]:
    async with db.read() as s:
        return {o.name: o for o in (await s.execute(select(Officer))).scalars()}


def refused(result: Any, *fragments: str) -> None:
    """Exit 2 with one Indonesian line that says why."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Ditolak:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


async def test_add_list_and_disable(db: Database, tmp_path: Path, clock: StepClock) -> None:
    """The first admin registers on an empty database, adds others, disables one; each change
    is audited under the officer who made it, and names match whatever the case typed."""
    admin = Admin.on(db, tmp_path / "data", clock, officers={}, name=None)
    r = await admin("officer", "add", "Siti", "--role", "admin", "--display", "Siti Rahmawati")
    assert r.exit_code == 0, r.output
    assert "Petugas siti (Siti Rahmawati) terdaftar sebagai admin" in r.stdout
    siti = admin.as_("siti")
    assert (await siti("officer", "add", "rina", "--role", "viewer")).exit_code == 0
    r = await admin("officer", "add", "yusuf", "--role", "pdp", "--contact", "0778-123456",
                    "--as", "SITI")
    assert r.exit_code == 0, r.output
    assert (await siti("officer", "add", "RINA", "--role", "admin")).exit_code == 1  # taken

    listed = await siti.json("officer", "list")
    assert [(o["nama"], o["peran"], o["aktif"]) for o in listed] == [
        ("siti", "admin", True), ("rina", "viewer", True), ("yusuf", "pdp", True)]
    assert listed[2]["kontak"] == "0778-123456" and listed[0]["nama_lengkap"] == "Siti Rahmawati"

    r = await siti("officer", "disable", "rina")
    assert r.exit_code == 0 and "rina dinonaktifkan" in r.stdout
    rina = (await officers(db))["rina"]
    assert rina.active is False and rina.disabled_at == clock.now
    assert (await siti("officer", "disable", "rina")).exit_code == 1
    last = await siti("officer", "disable", "siti")
    assert last.exit_code == 1 and "admin aktif terakhir" in last.stderr
    assert (await officers(db))["siti"].active

    async with db.read() as s:
        rows = (await s.execute(select(AuditLog).where(AuditLog.action.like("officer.%"))
                                .order_by(AuditLog.id))).scalars().all()
    assert [(a.actor, a.action, a.detail["name"]) for a in rows] == [
        ("admin:siti", "officer.add", "siti"), ("admin:siti", "officer.add", "rina"),
        ("admin:siti", "officer.add", "yusuf"), ("admin:siti", "officer.disable", "rina")]


async def test_add_checks_role_contact_and_the_one_pdp(admin: Admin) -> None:
    """A pdp needs a contact for residents; only one pdp is active at a time; a malformed
    name is a usage error."""
    r = await admin("officer", "add", "yusuf", "--role", "pdp")
    assert r.exit_code == 2 and "--contact" in r.output
    assert (await admin("officer", "add", "yusuf", "--role", "pdp", "--contact",
                        "pdp@batam.go.id")).exit_code == 0
    r = await admin("officer", "add", "dewi", "--role", "pdp", "--contact", "0778-1")
    assert r.exit_code == 1 and "yusuf" in r.stderr
    assert (await admin("officer", "add", "Bad Name!", "--role", "viewer")).exit_code == 2
    assert (await admin("officer", "add", "dewi", "--role", "boss")).exit_code == 2


async def test_refusals_name_the_reason(db: Database, admin: Admin) -> None:
    """No name, an unknown name, a disabled officer: exit 2 with one line, nothing done."""
    before = await audit_count(db)
    refused(await admin.as_(None)("tukang", "pending"), "--as", "SIJAKON_ADMIN")
    refused(await admin.as_(None)("info", "add", "--title", "T", "--topic", "x"), "--as")
    refused(await admin.as_("budi")("tukang", "pending"), "'budi' tidak terdaftar")
    refused(await admin("tukang", "pending", "--as", "a"), "'a' tidak terdaftar")
    await admin("officer", "disable", "rina")
    after_disable = await audit_count(db)
    refused(await admin.as_("rina")("tukang", "pending"), "'rina' sudah dinonaktifkan")
    assert await audit_count(db) == after_disable == before + 1


async def test_a_viewer_can_change_nothing(db: Database, admin: Admin,
                                           tmp_path: Path) -> None:
    """Every command of the tool, tried as a viewer: the reads run; every other command
    (whatever it is, including one added later and not declared) is refused before it does
    anything. A pdp gets the privacy commands too, and nothing else that changes data."""
    await admin("officer", "add", "yusuf", "--role", "pdp", "--contact", "pdp@batam.go.id")
    everything = commands()
    assert {"tukang activate", "privacy erase", "officer add", "demo seed"} <= set(everything)
    stale = [path for path, rule in RULES.items()
             if rule.access == Access.READ and path not in everything]
    assert stale == []  # a read declared for a command that does not exist could let a
    #                     later write command of that name through
    viewer, pdp = admin.as_("rina"), admin.as_("yusuf")
    exempt = {path for path in everything if rule_for(path, RULES).exempt}
    assert exempt <= {"db restore"}  # into an empty database: no officers to check there
    for path, cmd in sorted(everything.items()):
        if path in exempt:
            continue
        args = sample_args(path, cmd, tmp_path)
        access = rule_for(path, RULES).access
        before = await audit_count(db)
        r = await viewer(*args, input="n\n")
        if access == Access.READ:  # it may still refuse a made-up value; never the officer
            assert "Ditolak: petugas" not in r.output, (path, r.output)
        else:
            refused(r, "'rina' berperan viewer", f"sijakon-admin {path} butuh")
            assert await audit_count(db) == before, path
        if access != Access.READ:
            r = await pdp(*args, input="n\n")
            if access == Access.PRIVACY:
                assert "Ditolak: petugas" not in r.output, (path, r.output)
            else:
                refused(r, "'yusuf' berperan pdp", "butuh peran admin")
    refused(await viewer("users", "find", "budi", "--reveal"), "--reveal")
    assert (await pdp("users", "find", "budi", "--reveal")).exit_code == 0
    # copying files out is a data administrator's act, like --reveal
    assert rule_for("complaints evidence", RULES).access == Access.PRIVACY
    refused(await viewer("tukang", "show", "1", "--photos", str(tmp_path / "skk")),
            "'rina' berperan viewer", "--photos", "pdp atau admin")
    assert "Ditolak: petugas" not in (await viewer("tukang", "show", "1")).output
    r = await pdp("tukang", "show", "1", "--photos", str(tmp_path / "skk"))
    assert "Ditolak: petugas" not in r.output, r.output


async def test_before_any_officer_only_the_bootstrap_commands_run(
        db: Database, tmp_path: Path, clock: StepClock) -> None:
    """On an unclaimed database: `db upgrade`, `demo seed` and the first `officer add` (an
    admin) run without a name, the rest is refused; the demo officer works in a demo
    database only, and `demo seed` stays repeatable there."""
    nobody = Admin.on(db, tmp_path / "data", clock, officers={}, name=None)
    refused(await nobody("tukang", "pending"), "belum ada petugas", "officer add")
    assert (await nobody("db", "upgrade")).exit_code == 0
    assert (await nobody("demo", "seed")).exit_code == 0
    assert (await nobody("demo", "seed")).exit_code == 0
    demo = (await officers(db))["demo"]
    assert (demo.role, demo.is_demo, demo.active) == ("admin", True, True)
    assert (await nobody("--as", "demo", "tukang", "pending")).exit_code == 0
    refused(await nobody("tukang", "pending"), "--as")

    r = await nobody("officer", "add", "rina", "--role", "viewer")
    assert r.exit_code == 1 and "petugas pertama harus admin" in r.stderr
    assert (await nobody("officer", "add", "siti", "--role", "admin")).exit_code == 0
    refused(await nobody("demo", "seed"), "--as")
    refused(await nobody.as_("demo")("tukang", "pending"), "basis data contoh")
    assert (await nobody.as_("siti")("tukang", "pending")).exit_code == 0
    async with db.read() as s:
        first = (await s.execute(select(AuditLog).where(AuditLog.action == "officer.add"))
                 ).scalar_one()
    assert first.actor == "admin:siti"  # the first admin is recorded as adding themselves


async def test_reads_are_recorded_under_the_officer(db: Database, t: Harness,
                                                    admin: Admin) -> None:
    """A look at personal data is recorded under the officer named by the command's --as,
    the tool's --as or SIJAKON_ADMIN, never under the login of the machine."""
    await register_warga(t, "budi")
    assert (await admin.as_("rina")("users", "show", "1")).exit_code == 0
    assert (await admin.as_(None)("--as", "rina", "users", "find", "budi")).exit_code == 0
    assert (await admin.as_(None)("users", "history", "1", "--as", "Rina")).exit_code == 0
    assert (await admin("audit", "--as", "rina", "--subject", "user:1")).exit_code == 0
    async with db.read() as s:
        views = (await s.execute(select(AuditLog.actor, AuditLog.detail)
                                 .where(AuditLog.action == "admin.view")
                                 .order_by(AuditLog.id))).all()
    assert [(actor, detail["what"]) for actor, detail in views] == [
        ("admin:rina", "users.show"), ("admin:rina", "users.find"),
        ("admin:rina", "users.history")]
    async with db.read() as s:
        actors = set((await s.execute(select(AuditLog.actor))).scalars())
    assert not any(a.startswith("admin:os:") for a in actors)


async def test_the_privacy_notice_names_the_data_administrator(t: Harness,
                                                               admin: Admin) -> None:
    """Before a pdp is named, residents are told the Dinas; once one is, the greeting, the
    full policy and "Data saya" name them and how to reach them; when they are disabled,
    the Dinas again."""
    await t.send("sari", "halo")
    greeting = t.last("sari").text
    assert "Penanggung jawab data: Dinas Cipta Karya dan Tata Ruang Kota Batam." in greeting
    assert "pengelola data pribadi" not in greeting
    await t.press("sari", "Baca kebijakan data")
    assert ("Pengelola data pribadi (Perwako Batam 65/2021): Dinas Cipta Karya dan Tata Ruang "
            "Kota Batam; hubungi kantor Dinas.") in t.got("sari", "Kebijakan data").text

    r = await admin("officer", "add", "yusuf", "--role", "pdp", "--display", "Yusuf Hamdani",
                    "--contact", "0778-462000 / pdp.citakaru@batam.go.id")
    assert r.exit_code == 0, r.output
    await t.send("budi", "halo")
    assert ("Penanggung jawab data: Dinas Cipta Karya dan Tata Ruang Kota Batam; pengelola "
            "data pribadi: Yusuf Hamdani (0778-462000 / pdp.citakaru@batam.go.id).") \
        in t.last("budi").text
    t.replies("budi")
    await t.press("budi", "Baca kebijakan data")
    assert ("Pengelola data pribadi (Perwako Batam 65/2021): Yusuf Hamdani, Dinas Cipta Karya "
            "dan Tata Ruang Kota Batam. Hubungi: 0778-462000 / pdp.citakaru@batam.go.id.") \
        in t.got("budi", "Kebijakan data").text
    await register_warga(t, "budi")
    await t.press("budi", "Pengaturan")
    t.replies("budi")
    await t.press("budi", "Data saya")
    assert t.texts("budi")[0].endswith(
        "Untuk salinan resmi atau koreksi lain, hubungi pengelola data pribadi: Yusuf Hamdani "
        "(0778-462000 / pdp.citakaru@batam.go.id).")

    assert (await admin("officer", "disable", "yusuf")).exit_code == 0
    await t.send("dedi", "halo")
    assert "pengelola data pribadi" not in t.last("dedi").text


async def test_the_settings_name_the_data_administrator_until_a_pdp_officer_is_active(
        db: Database, clock: StepClock, admin: Admin, tmp_path: Path) -> None:
    """SIJAKON_PDP_NAME and SIJAKON_PDP_CONTACT reach the notice through `flow_config` while
    no pdp officer is active; an active pdp officer wins over them; one without the other
    stops start-up with one line naming them."""
    settings = load_settings(sijakon_data_dir=tmp_path, sijakon_pdp_name=" Rina Lestari ",
                             sijakon_pdp_contact="pdp@batam.go.id")
    t = Harness.console(db, clock=clock, config=flow_config(settings))
    try:
        await t.send("sari", "halo")
        assert ("Penanggung jawab data: Dinas Cipta Karya dan Tata Ruang Kota Batam; pengelola "
                "data pribadi: Rina Lestari (pdp@batam.go.id).") in t.last("sari").text
        await t.press("sari", "Baca kebijakan data")
        assert ("Pengelola data pribadi (Perwako Batam 65/2021): Rina Lestari, Dinas Cipta Karya "
                "dan Tata Ruang Kota Batam. Hubungi: pdp@batam.go.id.") \
            in t.got("sari", "Kebijakan data").text

        r = await admin("officer", "add", "yusuf", "--role", "pdp", "--display",
                        "Yusuf Hamdani", "--contact", "0778-462000")
        assert r.exit_code == 0, r.output
        await t.send("budi", "halo")
        assert "pengelola data pribadi: Yusuf Hamdani (0778-462000)." in t.last("budi").text
        assert (await admin("officer", "disable", "yusuf")).exit_code == 0
        await t.send("dedi", "halo")
        assert "pengelola data pribadi: Rina Lestari (pdp@batam.go.id)." in t.last("dedi").text
    finally:
        await t.close()

    with pytest.raises(SettingsError, match="SIJAKON_PDP_NAME dan SIJAKON_PDP_CONTACT"):
        load_settings(sijakon_data_dir=tmp_path, sijakon_pdp_name="Rina Lestari")


async def test_db_stats_counts_the_officers(admin: Admin) -> None:
    """`db stats` lists the officer table beside the others, disabled officers included."""
    assert (await admin("officer", "disable", "rina")).exit_code == 0
    stats = await admin.json("db", "stats")
    assert stats["tables"]["officer"] == 2
    assert "officer" in (await admin("db", "stats")).stdout


def test_every_rule_names_a_command_that_exists() -> None:
    """A rule for a command or group the tool does not have (such as "db migrate" for
    `db upgrade`) is a mistake: it protects nothing and misleads whoever reads the table."""
    everything = commands()
    groups = {" ".join(path.split()[:n]) for path in everything
              for n in range(1, len(path.split()))}
    assert sorted(set(RULES) - set(everything) - groups) == []
