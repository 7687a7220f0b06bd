"""desk.services.accounts, the admin's work: every step checks that the actor is an admin (the
`manage_accounts` rule), the last active admin is never disabled or demoted, a disabled
account's session ends, and the one-time setup token (24 h, single use, not forgeable)."""

from __future__ import annotations

import pytest

from desk.errors import PermissionDenied, StaffExists
from desk.services import Desk, WeakPassword
from desk.services.accounts import BadRole, BadSetupLink, LastAdmin
from testing.clock import Clock

KEY = b"k" * 32
PASSWORD = "correct horse battery"


async def test_only_admins_manage_accounts(desk: Desk) -> None:
    boss = (await desk.add_staff("主任", "admin")).id
    sup = (await desk.add_staff("组长", "supervisor")).id
    made = await desk.create_account(boss, "王芳", "wangfang", "staff", PASSWORD)
    assert (made.login, made.role, made.active, made.has_password) == (
        "wangfang",
        "staff",
        True,
        True,
    )
    assert (await desk.authenticate("wangfang", PASSWORD)) is not None
    for step in (
        desk.staff_accounts(sup),
        desk.create_account(sup, "李强", "liqiang", "staff", PASSWORD),
        desk.change_role(sup, made.id, "admin"),
        desk.set_active(sup, made.id, False),
        desk.reset_password(sup, made.id, "another password"),
        desk.link_telegram(sup, made.id, 42),
        desk.change_role(made.id, made.id, "admin"),  # no promoting oneself
    ):
        with pytest.raises(PermissionDenied) as refused:
            await step
        assert refused.value.user_message == "只有管理员可以管理工作人员账号。"
    assert (await desk.staff_identity(made.id)).role == "staff"  # type: ignore[union-attr]


async def test_each_admin_step(desk: Desk) -> None:
    boss = (await desk.add_staff("主任", "admin")).id
    wang = (await desk.create_account(boss, "王芳", "wangfang", "staff", PASSWORD)).id
    assert (await desk.change_role(boss, wang, "supervisor")).role == "supervisor"
    with pytest.raises(BadRole):
        await desk.change_role(boss, wang, "root")
    await desk.set_active(boss, wang, False)
    assert await desk.staff_identity(wang) is None  # the session stops at the next request
    assert await desk.authenticate("wangfang", PASSWORD) is None
    await desk.set_active(boss, wang, True)
    assert await desk.staff_identity(wang) is not None
    await desk.reset_password(boss, wang, "a new password")
    assert await desk.authenticate("wangfang", PASSWORD) is None
    assert await desk.authenticate("wangfang", "a new password") is not None
    with pytest.raises(WeakPassword):
        await desk.reset_password(boss, wang, "short")
    assert (await desk.link_telegram(boss, wang, 4242)).telegram_user_id == 4242
    assert (await desk.staff_by_telegram(4242)).id == wang  # type: ignore[union-attr]
    with pytest.raises(StaffExists):
        await desk.link_telegram(boss, boss, 4242)  # someone else's id
    assert (await desk.link_telegram(boss, wang, None)).telegram_user_id is None
    with pytest.raises(StaffExists):
        await desk.create_account(boss, "王芳2", "wangfang", "staff", PASSWORD)  # login taken
    with pytest.raises(WeakPassword):
        await desk.create_account(boss, "赵六", "zhaoliu", "staff", "short")
    names = [a.name for a in await desk.staff_accounts(boss)]
    assert sorted(names) == sorted(["主任", "王芳"])


async def test_the_last_active_admin_stays(desk: Desk) -> None:
    boss = (await desk.add_staff("主任", "admin")).id
    with pytest.raises(LastAdmin):
        await desk.set_active(boss, boss, False)
    with pytest.raises(LastAdmin):
        await desk.change_role(boss, boss, "staff")
    other = (await desk.create_account(boss, "副主任", "fu", "admin", PASSWORD)).id
    await desk.change_role(boss, boss, "supervisor")  # another admin remains: allowed
    with pytest.raises(LastAdmin):
        await desk.set_active(other, other, False)
    assert (await desk.staff_identity(other)).role == "admin"  # type: ignore[union-attr]


async def test_a_setup_token_is_single_use_and_expires(desk: Desk, clock: Clock) -> None:
    member = await desk.add_staff("新同事", "admin", login="xin")
    token = await desk.setup_token(member.id, KEY)
    assert (await desk.setup_account(token, KEY)).name == "新同事"
    for forged in (token + "x", "1.2.3", "garbage", token.replace(f"{member.id}.", "999.", 1)):
        with pytest.raises(BadSetupLink):
            await desk.setup_account(forged, KEY)
    with pytest.raises(BadSetupLink):
        await desk.setup_account(token, b"o" * 32)  # another key
    with pytest.raises(WeakPassword):
        await desk.use_setup_token(token, KEY, "short")
    await desk.use_setup_token(token, KEY, PASSWORD)
    assert await desk.authenticate("xin", PASSWORD) is not None
    with pytest.raises(BadSetupLink):  # used: the password hash it was signed over changed
        await desk.use_setup_token(token, KEY, "another password")
    late = await desk.setup_token(member.id, KEY)
    clock.advance(hours=24, seconds=1)
    with pytest.raises(BadSetupLink):
        await desk.setup_account(late, KEY)
