"""A case's page `/console/cases/{number}` in a real browser: claim, ask the taxpayer (the
answer arrives live), complete with a document for the taxpayer; a plain staff member sees
only the actions the desk allows; a refusal shows the desk's message and keeps what was
typed. And the attachment downloads: the rights, the headers, forged and malformed ids."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import select

from desk.models import Outbox
from intake.storage import LocalAttachmentStore
from testing.console import cookie_jar, http_login, submit_case, submit_correction
from testing.samples import make_pdf, make_scanned_pdf
from testing.web import Site, add_account, desktop, login


async def _actions(page: Any) -> list[str]:
    forms = await page.locator("section.actions form.act").evaluate_all(
        "fs => fs.map(f => f.getAttribute('action').split('/').pop())"
    )
    return list(forms)


async def test_claim_ask_and_complete_with_a_document(site: Site, browser: Any) -> None:
    await add_account(site, "王芳", "staff", login="wangfang")
    number = await submit_correction(site)
    page = await desktop(browser)
    await login(page, site, "wangfang")
    await page.goto(site(f"/console/cases/{number}"))
    body = await page.inner_text("main")
    assert "申报更正" in body and "承诺书" in body and "增值税" in body
    assert "9131****12G" in body and "91310115MA1K3YJ12G" not in body  # masked here too
    assert await page.locator(".attachment img").count() == 2  # the scan's and the photo's
    assert await _actions(page) == ["claim", "note"]

    async with page.expect_navigation():
        await page.click("form.act-claim button")
    assert "已认领" in await page.inner_text("main")
    assert "王芳" in await page.inner_text(".case-head .assignee")
    assert await _actions(page) == ["ask_taxpayer", "complete", "reject", "release", "note"]

    await page.fill("form.act-ask_taxpayer textarea", "请补充2019年12月的申报表截图")
    async with page.expect_navigation():
        await page.click("form.act-ask_taxpayer button")
    assert "等待纳税人补充" in await page.inner_text(".case-head")
    assert "请补充2019年12月的申报表截图" in await page.inner_text(".history")

    # the taxpayer answers in the chat: the open page shows it without a reload
    await page.evaluate("window.__notReloaded = true")
    await page.fill("form.act-note textarea", "正在核对")  # being typed: kept through it
    runtime = site.deps.runtime
    async with runtime.sessions() as s:
        await runtime.desk(s).answer(number, "截图已经发了")
    await page.locator(".history", has_text="截图已经发了").wait_for(timeout=10_000)
    assert "办理中" in await page.inner_text(".case-head")
    assert await page.evaluate("window.__notReloaded === true")
    assert await page.input_value("form.act-note textarea") == "正在核对"

    await page.fill("form.act-complete textarea", "已更正，请查收更正后的申报表。")
    await page.set_input_files(
        "form.act-complete input[type=file]",
        files=[{"name": "更正结果.pdf", "mimeType": "application/pdf", "buffer": make_pdf(2)}],
    )
    # a colleague's note arrives meanwhile: the page updates, the chosen file and note stay
    colleague = await add_account(site, "李强", "staff", login="liqiang")
    async with runtime.sessions() as s:
        await runtime.desk(s).add_note(number, colleague, "纳税人来电确认过")
    await page.locator(".history", has_text="纳税人来电确认过").wait_for(timeout=10_000)
    assert await page.input_value("form.act-complete textarea") == "已更正，请查收更正后的申报表。"
    async with page.expect_navigation():
        await page.click("form.act-complete button")
    main = await page.inner_text("main")
    assert "已办结" in main and "办结文书" in main and "更正结果.pdf" in main
    assert await _actions(page) == ["note"]  # a plain staff member cannot reopen
    async with runtime.sessions() as s:
        rows = (await s.execute(select(Outbox).where(Outbox.kind == "case_done"))).scalars()
        done = list(rows)
    assert len(done) == 1 and done[0].payload["documents"][0]["name"] == "更正结果.pdf"
    # a supervisor may reopen it
    await add_account(site, "赵主管", "supervisor", login="zhao")
    zhao = await desktop(browser)
    await login(zhao, site, "zhao")
    await zhao.goto(site(f"/console/cases/{number}"))
    assert await _actions(zhao) == ["reopen", "note"]
    await zhao.fill("form.act-reopen textarea", "纳税人反映更正不完整")
    async with zhao.expect_navigation():
        await zhao.click("form.act-reopen button")
    assert "排队中" in await zhao.inner_text(".case-head")


async def test_staff_see_only_what_the_desk_allows_and_a_refusal_says_why(
    site: Site, browser: Any
) -> None:
    await add_account(site, "王芳", "staff", login="wangfang")
    await add_account(site, "李强", "staff", login="liqiang")
    boss = await add_account(site, "赵主管", "supervisor", login="zhao")
    number = await submit_case(site)
    wang = await desktop(browser)
    li = await desktop(browser)
    await login(wang, site, "wangfang")
    await login(li, site, "liqiang")
    # 王芳's page stays as loaded (no live updates): the stale form of someone who was away
    await wang.route("**/events*", lambda route: route.abort())
    await wang.goto(site(f"/console/cases/{number}"))
    await li.goto(site(f"/console/cases/{number}"))
    async with wang.expect_navigation():
        await wang.click("form.act-claim button")
    # 李强's page still offers the claim it loaded with (the stream may not have come yet)
    await li.goto(site(f"/console/cases/{number}"))
    assert await _actions(li) == ["note"]  # someone else's case: notes only
    # a refusal: 王芳 types a question, but meanwhile the supervisor gives the case to 李强
    await wang.fill("form.act-ask_taxpayer textarea", "请提供营业执照照片")
    runtime = site.deps.runtime
    async with runtime.sessions() as s:
        await runtime.desk(s).assign(number, boss, site.accounts["liqiang"])
    async with wang.expect_navigation():
        await wang.click("form.act-ask_taxpayer button")
    alert = await wang.inner_text("#case-error")
    assert "由 李强 承办" in alert and "只有承办人或主管" in alert
    assert "请提供营业执照照片" in await wang.input_value("#case-error textarea.kept")
    # the supervisor sees the supervisor's actions
    zhao = await desktop(browser)
    await login(zhao, site, "zhao")
    await zhao.goto(site(f"/console/cases/{number}"))
    assert await _actions(zhao) == [
        "assign",
        "ask_taxpayer",
        "complete",
        "reject",
        "release",
        "note",
    ]
    # a blank reason is refused with the desk's message
    async with zhao.expect_navigation():
        await zhao.click("form.act-reject button")
    assert "不予受理的原因" in await zhao.inner_text("#case-error")


async def test_attachment_downloads_are_checked_and_sent_safely(site: Site) -> None:
    await add_account(site, "王芳", "staff", login="wangfang")
    number = await submit_correction(site)
    runtime = site.deps.runtime
    async with runtime.sessions() as s:
        desk = runtime.desk(s)
        detail = await desk.case_detail(number)
        pdf = next(a for a in detail.attachments if a.media_type == "application/pdf")
        jpeg = next(a for a in detail.attachments if a.media_type == "image/jpeg")
        # a file stored but on no case and in no conversation, and a forged HTML row
        store = LocalAttachmentStore(site.deps.data_dir / "attachments")
        loose = await desk.check_and_store(store, make_scanned_pdf(), "别人的.pdf")
        blob = await store.put(b"<html><script>alert(1)</script></html>", ".html")
        html = await desk.add_attachment(
            sha256=blob.sha256, size=blob.size, storage_key=blob.key, media_type="text/html"
        )
        html.case_id = detail.case.id
        await s.commit()
    async with aiohttp.ClientSession(cookie_jar=cookie_jar()) as http:
        async with http.get(site(f"/console/attachments/{pdf.id}")) as r:
            assert r.status == 401  # anonymous
        await http_login(http, site, "wangfang")
        async with http.get(site(f"/console/attachments/{pdf.id}")) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "application/pdf"
            assert r.headers["Content-Disposition"].startswith("attachment;")
            assert (
                "filename*=UTF-8''%E6%89%BF%E8%AF%BA%E4%B9%A6.pdf"
                in (r.headers["Content-Disposition"])
            )
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert "sandbox" in r.headers["Content-Security-Policy"]
            assert (await r.read()).startswith(b"%PDF")
        async with http.get(site(f"/console/attachments/{pdf.id}/preview")) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "image/png"
            assert r.headers["Content-Disposition"].startswith("inline;")
            assert (await r.read()).startswith(b"\x89PNG")
        async with http.get(site(f"/console/attachments/{jpeg.id}")) as r:
            assert r.headers["Content-Type"] == "image/jpeg"
            assert r.headers["Content-Disposition"].startswith("inline;")
        async with http.get(site(f"/console/attachments/{jpeg.id}?download=1")) as r:
            assert r.headers["Content-Disposition"].startswith("attachment;")
        async with http.get(site(f"/console/attachments/{jpeg.id}/thumb")) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
        async with http.get(site(f"/console/attachments/{jpeg.id}/preview")) as r:
            assert r.status == 404  # previews are for PDFs
        async with http.get(site(f"/console/attachments/{html.id}")) as r:
            assert r.status == 200  # never HTML, never inline
            assert r.headers["Content-Type"] == "application/octet-stream"
            assert r.headers["Content-Disposition"].startswith("attachment;")
        for path in (
            f"/console/attachments/{loose.id}",  # a forged id: a real file, nobody's
            f"/console/attachments/{loose.id + 999}",  # no such file
            "/console/attachments/abc",
            "/console/attachments/1.5",
            "/console/attachments/-1",
            "/console/attachments/..%2F..%2Fetc%2Fpasswd",
            "/console/attachments/%2e%2e/%2e%2e/etc/passwd",
            f"/console/attachments/{pdf.id}/../../../etc/passwd",
            "/console/attachments/99999999999999999999999",
        ):
            async with http.get(site(path)) as r:
                assert r.status in (403, 404), (path, r.status)
                assert b"root:" not in await r.read()


async def test_a_refused_document_keeps_the_note_and_completes_nothing(site: Site) -> None:
    staff_id = await add_account(site, "王芳", "staff", login="wangfang")
    number = await submit_case(site)
    runtime = site.deps.runtime
    async with runtime.sessions() as s:
        await runtime.desk(s).claim(number, staff_id)
    async with aiohttp.ClientSession(cookie_jar=cookie_jar()) as http:
        token = await http_login(http, site, "wangfang")
        form = aiohttp.FormData()
        form.add_field("_csrf", token)
        form.add_field("note", "证明已开具，请查收")
        form.add_field("file", b"<html>not a pdf</html>", filename="证明.html")
        async with http.post(site(f"/console/cases/{number}/complete"), data=form) as r:
            page = await r.text()
            assert r.status == 400
            assert "暂不支持这种文件" in page and "请重新选择" in page
            assert "证明已开具，请查收</textarea>" in page  # what was typed is still there
        form = aiohttp.FormData()  # and without the token nothing happens at all
        form.add_field("note", "证明已开具")
        async with http.post(site(f"/console/cases/{number}/complete"), data=form) as r:
            assert r.status == 403
    async with runtime.sessions() as s:
        assert (await runtime.desk(s).case_detail(number)).case.status == "in_progress"
